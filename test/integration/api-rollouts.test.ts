/**
 * Admin API, rollouts: start a staged rollout of a stored artifact to a class, list, status
 * with per-wave counts and per-device states, abort; rollout-state metrics; validation
 * (policy fields, unknown variant, empty class, conflicts) and scopes.
 */
import t from 'tap';
import { type Hello, sha256Hex } from '@edgefleet/shared';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { startApi } from '../helpers/api.js';

function hello(deviceId: string, deviceClass: string): Hello {
  return {
    type: 'hello',
    v: 1,
    deviceId,
    deviceClass,
    agentVersion: '1',
    runtime: { node: 'v20', onnxruntime: '1.30.0' },
    capabilities: {
      cpuModel: 'x',
      cores: 4,
      memoryBytes: 1e9,
      executionProviders: ['cpu'],
      precisions: ['fp32'],
      powerSource: 'none',
    },
    currentModel: null,
    sentAt: 1,
  };
}

t.test('rollouts over the API', async (t) => {
  const { call, expectError, admin, reader, server } = await startApi(t);
  for (const id of ['pi-1', 'pi-2', 'pi-3', 'pi-4'])
    await server.repos().devices.upsertHello(hello(id, 'rpi4'), Date.now());
  const { sha256 } = await server.deploy().artifacts.put(buildClassifier(7));
  const golden = goldenFor(7);
  const start = {
    deviceClass: 'rpi4',
    variant: sha256.slice(0, 12),
    golden,
    policy: { canary: { count: 1 }, baseCount: 1 },
  };

  await t.test('validation and scopes on start', async (t) => {
    expectError(t, await call('POST', '/v1/rollouts', reader, start), 'EF_ERR_AUTH_FORBIDDEN');
    expectError(t, await call('POST', '/v1/rollouts', null, start), 'EF_ERR_AUTH_MISSING');
    const badPolicy = await call('POST', '/v1/rollouts', admin, { ...start, policy: { growthFactor: 10 } });
    expectError(t, badPolicy, 'EF_ERR_API_VALIDATION');
    t.match(
      badPolicy.body,
      { details: { issues: [{ path: 'body.policy.growthFactor' }] } },
      'the policy field is named',
    );
    expectError(
      t,
      await call('POST', '/v1/rollouts', admin, { ...start, golden: { labels: [] } }),
      'EF_ERR_API_VALIDATION',
    );
    expectError(
      t,
      await call('POST', '/v1/rollouts', admin, { ...start, variant: 'nothex!' }),
      'EF_ERR_API_VALIDATION',
    );
    expectError(
      t,
      await call('POST', '/v1/rollouts', admin, { ...start, variant: 'f'.repeat(64) }),
      'EF_ERR_ROLLOUT_INVALID',
    );
    expectError(
      t,
      await call('POST', '/v1/rollouts', admin, { ...start, deviceClass: 'empty-class' }),
      'EF_ERR_ROLLOUT_INVALID',
    );
    const { golden: _g, ...withoutGolden } = start;
    const noGolden = await call('POST', '/v1/rollouts', admin, withoutGolden);
    expectError(t, noGolden, 'EF_ERR_ROLLOUT_INVALID');
    t.match(noGolden.body['message'], /no rollout yet.*golden/, 'a class without a rollout has no golden set to reuse');
    t.match(
      await call('GET', '/v1/rollouts', reader),
      { status: 200, body: { rollouts: [] } },
      'nothing started by refused requests',
    );
    // A refused start with new bytes (CLI `rollout start --model FILE`) stores nothing (issue 18, finding 8).
    const fresh = buildClassifier(8);
    const refused = server
      .deploy()
      .rollouts.start({ deviceClass: 'empty-class', artifact: { bytes: fresh }, golden: goldenFor(8) });
    await t.rejects(refused, { code: 'EF_ERR_ROLLOUT_INVALID' });
    t.equal(await server.deploy().artifacts.has(sha256Hex(fresh)), false, 'the refused model was not written');
  });

  await t.test('start, status, list, abort', async (t) => {
    const started = await call('POST', '/v1/rollouts', admin, start);
    t.equal(started.status, 201);
    const status = started.body as {
      rollout: { id: string; state: string; artifactSha: string; waveCount: number };
      waves: Array<{ size: number; counts: Record<string, number> }>;
      devices: Array<{ deviceId: string; state: string; wave: number }>;
    };
    t.match(status.rollout, { state: 'in-progress', artifactSha: sha256 });
    t.equal(status.devices.length, 4, 'every device of the class is in the rollout');
    t.equal(status.waves[0]?.size, 1, 'canary of one');
    t.equal(
      status.waves.reduce((n, w) => n + w.size, 0),
      4,
      'waves cover the class',
    );
    t.equal(status.waves[0]?.counts['notified'], 1, 'the canary is notified at once');
    t.notOk('golden' in status.rollout, 'the golden set is not echoed');
    const id = status.rollout.id;
    expectError(t, await call('POST', '/v1/rollouts', admin, start), 'EF_ERR_ROLLOUT_CONFLICT');
    t.match(await call('GET', `/v1/rollouts/${id}`, reader), {
      status: 200,
      body: { rollout: { id }, devices: Array },
    });
    t.match(await call('GET', '/v1/rollouts?active=true&class=rpi4', reader), { body: { rollouts: [{ id }] } });
    t.match(await call('GET', '/v1/rollouts?class=other', reader), { body: { rollouts: [] } });
    expectError(t, await call('GET', '/v1/rollouts?active=maybe', reader), 'EF_ERR_API_VALIDATION');
    const metrics = await call('GET', '/metrics', reader);
    t.match(metrics.body['text'], /edgefleet_rollouts\{state="in-progress"\} 1/);
    expectError(t, await call('POST', `/v1/rollouts/${id}/abort`, reader, {}), 'EF_ERR_AUTH_FORBIDDEN');
    const aborted = await call('POST', `/v1/rollouts/${id}/abort`, admin, { reason: 'operator test' });
    t.equal(aborted.status, 200);
    t.match(aborted.body, { rollout: { id, reason: /operator test/ } });
    t.not((aborted.body['rollout'] as { state: string }).state, 'in-progress', 'no longer in progress');
    expectError(t, await call('POST', `/v1/rollouts/${id}/abort`, admin, {}), 'EF_ERR_ROLLOUT_CONFLICT');
    expectError(t, await call('GET', '/v1/rollouts/r-ghost', reader), 'EF_ERR_ROLLOUT_NOT_FOUND');
    expectError(t, await call('POST', '/v1/rollouts/r-ghost/abort', admin, {}), 'EF_ERR_ROLLOUT_NOT_FOUND');
    expectError(t, await call('POST', `/v1/rollouts/${id}/abort`, admin, { reason: '' }), 'EF_ERR_API_VALIDATION');
  });

  await t.test("a start without a golden set reuses the class's latest (as the loop does)", async (t) => {
    const { golden: _g, ...withoutGolden } = start;
    const started = await call('POST', '/v1/rollouts', admin, {
      ...withoutGolden,
      variantId: 'v-int8-static-0a1b2c3d',
    });
    t.equal(started.status, 201);
    const id = (started.body['rollout'] as { id: string }).id;
    t.equal(
      (started.body['rollout'] as { variantId: string }).variantId,
      'v-int8-static-0a1b2c3d',
      'the given name is kept',
    );
    t.same(
      (await server.repos().rollouts.get(id))?.golden,
      golden,
      'the stored rollout carries the earlier golden set',
    );
    await call('POST', `/v1/rollouts/${id}/abort`, admin, { reason: 'cleanup' });
  });

  await t.test("a device's model history lists its rollouts, newest first", async (t) => {
    const res = await call('GET', '/v1/devices/pi-1/deployments', reader);
    t.equal(res.status, 200);
    const deployments = res.body['deployments'] as Array<{ rolloutId: string; rolloutState: string; state: string }>;
    const all = (await call('GET', '/v1/rollouts?class=rpi4', reader)).body['rollouts'] as Array<{ id: string }>;
    t.equal(deployments.length, 2, 'both rollouts reached pi-1 (the canary)');
    t.same(
      deployments.map((d) => d.rolloutId),
      all.map((r) => r.id).reverse(),
      'newest first',
    );
    t.match(deployments[1], { rolloutState: 'aborted', deviceClass: 'rpi4', variantId: String, wave: 0 });
    expectError(t, await call('GET', '/v1/devices/ghost-1/deployments', reader), 'EF_ERR_DEVICE_NOT_FOUND');
    expectError(t, await call('GET', '/v1/devices/pi-1/deployments', null), 'EF_ERR_AUTH_MISSING');
  });
});
