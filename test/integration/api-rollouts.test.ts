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
  for (const id of ['pi-1', 'pi-2', 'pi-3', 'pi-4']) server.store().devices.upsertHello(hello(id, 'rpi4'), Date.now());
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
});
