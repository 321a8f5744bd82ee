/**
 * The class desired state (issue 17): after a class-wide rollout completes, a device that
 * joins the class later, or comes back having missed it, is brought to the class's variant
 * by a catch-up rollout (signed manifest, chunk download, smoke test), with no admin action,
 * and the rollout record says why. Real server, real agents with onnxruntime workers; the
 * test drives rollout ticks and desired-state checks itself (the server's clock holds its timers).
 */
import { join } from 'node:path';
import t from 'tap';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { createDevice, type Device } from '@edgefleet/agent/device';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { deviceTopic, parseTrustedKey, sha256Hex } from '@edgefleet/shared';
import { createInferenceFaults, type InferenceFaults } from '@edgefleet/simulators';
import { linkOptions } from '../helpers/agent-fixtures.js';
import { createHeldClock } from '../helpers/held-clock.js';
import { driveRollout } from '../helpers/drive-rollout.js';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';

t.setTimeout(240_000);
const silent = pino({ level: 'silent' });
const dir = t.testdir();
const modelA = buildClassifier(11);
const modelB = buildClassifier(22);
const shaA = sha256Hex(modelA);
const shaB = sha256Hex(modelB);

const server = createServer(
  loadServerConfig({
    flags: {
      dataDir: join(dir, 'server'),
      port: 0,
      host: '127.0.0.1',
      'log.level': 'silent',
      'auth.enabled': false,
      apiPort: -1,
    },
  }),
  { logger: silent, clock: createHeldClock() },
);
const address = await server.start();
const trusted = server.deploy().keyring.publicKeys.map((k) => parseTrustedKey(k.publicKey));
const devices = new Map<string, Device>();
t.teardown(async () => {
  await Promise.all([...devices.values()].map((d) => d.stop({ clean: false }).catch(() => undefined)));
  await server.stop();
});

async function startDevice(id: string, faults: InferenceFaults = {}): Promise<Device> {
  const d = await createDevice({
    link: linkOptions({ brokerUrl: address.brokerUrl, deviceId: id, logger: silent }),
    dataDir: join(dir, 'devices', id),
    trustedKeys: trusted,
    logger: silent,
    download: { windowChunks: 8, windowTimeoutMs: 400, maxStalls: 4 },
    telemetry: false,
    wrapWorker: createInferenceFaults(faults).wrap,
  });
  await d.start();
  devices.set(id, d);
  return d;
}

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

const rollouts = () => server.deploy().rollouts;
const online = async (id: string) => (await server.repos().devices.get(id))?.state === 'online';
const desiredOf = (deviceClass: string) => server.repos().desired.desired(deviceClass);

async function drive(id: string) {
  await until(`rollout ${id} to finish`, async () => {
    await rollouts().tick();
    return ['completed', 'aborted'].includes((await rollouts().status(id)).rollout.state);
  });
  return await rollouts().status(id);
}

await Promise.all(['dev-1', 'dev-2'].map((id) => startDevice(id)));
await until('two devices online', async () => (await online('dev-1')) && (await online('dev-2')));

t.test('a completed class-wide rollout sets the class desired state', async (t) => {
  t.same(await server.deploy().desired.reconcile(Date.now()), [], 'no desired state yet: nothing to catch up');
  const started = await rollouts().start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelA },
    variantId: 'vA',
    golden: goldenFor(11),
    policy: { canary: { count: 1 }, deviceTimeoutMs: 30_000 },
  });
  t.match(started.rollout.origin, { kind: 'class' });
  const done = await drive(started.rollout.id);
  t.equal(done.rollout.state, 'completed');
  t.match(await desiredOf('rpi4'), {
    rolloutId: started.rollout.id,
    artifactSha: shaA,
    variantId: 'vA',
  });
});

t.test('a device joining the class after its rollout is brought to the class model', async (t) => {
  const late = await startDevice('dev-late');
  await until('dev-late online', () => online('dev-late'));
  t.equal(late.status().serving, null, 'it starts with no model');
  const started = await server.deploy().desired.reconcile(Date.now());
  t.equal(started.length, 1, 'one catch-up rollout');
  const c = started[0] as (typeof started)[number];
  t.same(c.deviceIds, ['dev-late'], 'for the late device alone');
  const status = await rollouts().status(c.rolloutId);
  t.match(status.rollout.origin, {
    kind: 'catch-up',
    sourceRolloutId: (await desiredOf('rpi4'))?.rolloutId,
  });
  t.match(status.rollout.origin, { reason: /1 member\(s\) of rpi4 not on its desired variant vA .*dev-late/ });
  const done = await drive(c.rolloutId);
  t.equal(done.rollout.state, 'completed');
  t.equal(done.devices[0]?.state, 'succeeded', 'downloaded, verified and smoke-tested like any deployment');
  t.equal(late.status().serving?.sha256, shaA, 'the late device serves the class model');
  await until(
    'the server to know its model',
    async () => (await server.repos().devices.get('dev-late'))?.currentModel === shaA,
  );
  t.same(await server.deploy().desired.reconcile(Date.now()), [], 'and nothing is left to catch up');
});

t.test('a device that missed the rollout and comes back without its manifest is caught up', async (t) => {
  // dev-away registers, goes away, misses a rollout of B (times out), and its retained
  // manifest is gone when it returns (an embedded broker restarted in between).
  const away = await startDevice('dev-away');
  await until('dev-away online', () => online('dev-away'));
  await away.stop({ clean: true });
  devices.delete('dev-away');
  await until('dev-away offline', async () => !(await online('dev-away')));
  const started = await rollouts().start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelB },
    variantId: 'vB',
    golden: goldenFor(22),
    // Generous for the devices that answer (loading a model takes seconds on a busy machine); dev-away times out
    // when only it is left waiting.
    policy: { canary: { count: 3 }, abort: { timedOutPct: null }, deviceTimeoutMs: 60_000 },
  });
  const done = await driveRollout(rollouts(), started.rollout.id, { silent: ['dev-away'], deviceTimeoutMs: 60_000 });
  t.equal(done.rollout.state, 'completed');
  t.equal(done.devices.find((d) => d.deviceId === 'dev-away')?.state, 'timed-out', 'dev-away missed it');
  t.equal((await desiredOf('rpi4'))?.artifactSha, shaB, 'the class should now run B');
  // What an embedded broker restart does to the retained manifest it had for dev-away.
  const c = await mqtt.connectAsync(address.brokerUrl, { protocolVersion: 4 });
  await c.publishAsync(deviceTopic('dev-away', 'desired'), Buffer.alloc(0), { qos: 1, retain: true });
  await c.endAsync();
  const back = await startDevice('dev-away');
  await until('dev-away back online', () => online('dev-away'));
  const caught = await server.deploy().desired.reconcile(Date.now());
  t.same(
    caught.map((c) => c.deviceIds),
    [['dev-away']],
    'only the returning device is behind',
  );
  await drive(caught[0]?.rolloutId as string);
  t.equal(back.status().serving?.sha256, shaB, 'it serves the class model B');
});

t.test('a device that fails the class model is not asked again within the retry window', async (t) => {
  // Its outputs come back wrong: the golden-set smoke test fails, as on a broken accelerator.
  const broken = await startDevice('dev-broken', { corruptOutputs: true });
  await until('dev-broken online', () => online('dev-broken'));
  const first = await server.deploy().desired.reconcile(Date.now());
  t.same(
    first.map((c) => c.deviceIds),
    [['dev-broken']],
  );
  const done = await drive(first[0]?.rolloutId as string);
  t.equal(done.devices[0]?.state, 'failed', 'the smoke test refused the model on this device');
  t.equal(broken.status().serving, null, 'it keeps what it had (nothing)');
  t.same(await server.deploy().desired.reconcile(Date.now()), [], 'not retried at once');
  const later = await server.deploy().desired.reconcile(Date.now() + 3_600_001);
  t.same(
    later.map((c) => c.deviceIds),
    [['dev-broken']],
    'retried after the retry window',
  );
  await drive(later[0]?.rolloutId as string);
});

t.test('a cohort chosen for another variant is left alone; a class rollout supersedes a catch-up', async (t) => {
  const cohort = await rollouts().start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelA },
    variantId: 'vA-cohort',
    golden: goldenFor(11),
    deviceIds: ['dev-1'],
    policy: { canary: { count: 1 }, deviceTimeoutMs: 30_000 },
  });
  t.match(cohort.rollout.origin, { kind: 'devices' });
  await drive(cohort.rollout.id);
  t.equal((await desiredOf('rpi4'))?.artifactSha, shaB, 'a cohort rollout does not change the class desired state');
  const next = await server.deploy().desired.reconcile(Date.now());
  t.notOk(
    next.some((c) => c.deviceIds.includes('dev-1')),
    'dev-1, moved to A on purpose, is not pulled back to B',
  );
  const late = await startDevice('dev-late-2');
  await until('dev-late-2 online', () => online('dev-late-2'));
  const catchUps = await server.deploy().desired.reconcile(Date.now());
  const mine = catchUps.find((c) => c.deviceIds.includes('dev-late-2'));
  t.ok(mine, 'a catch-up for the new device');
  const classWide = await rollouts().start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelA },
    variantId: 'vA2',
    golden: goldenFor(11),
    // dev-broken fails its smoke test: no abort criteria, this part is about superseding.
    policy: { canary: { count: 10 }, abort: { failedPct: null, timedOutPct: null }, deviceTimeoutMs: 60_000 },
  });
  t.match((await rollouts().status(mine?.rolloutId as string)).rollout, {
    state: 'aborted',
    reason: `superseded by ${classWide.rollout.id}`,
  });
  const final = await drive(classWide.rollout.id);
  const row = final.devices.find((d) => d.deviceId === 'dev-late-2');
  t.equal(row?.state, 'succeeded', `the class rollout brought the new device along (${JSON.stringify(row?.failure)})`);
  t.equal(late.status().serving?.sha256, shaA);
});
