/**
 * Rollouts end to end on loopback: the real server (embedded aedes, SQLite, deployer) and
 * ten REAL agents (agent/src/device.ts, each with its own data dir and onnxruntime worker)
 * in this process. The subtests run in order on one farm:
 *   1. a rollout across waves succeeds (canary 1, then 2, 4, 3);
 *   2. a variant with a deliberately wrong golden set aborts after the canary, no device
 *      outside it receives the variant, and the old model keeps serving;
 *   3. a damaged artifact on the server is never served (old model keeps serving), and adding
 *      the same bytes again repairs it;
 *   4. a server restart mid-rollout resumes it;
 *   5. devices that stop answering time out, the abort fires, and devices already updated
 *      roll back to their previous variant.
 * Evaluations are driven by the test (the server's clock holds its timers) so each one is explicit.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createDevice, type Device } from '@edgefleet/agent/device';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import type { RolloutStatus } from '@edgefleet/server/deploy/index';
import { parseTrustedKey, sha256Hex } from '@edgefleet/shared';
import { linkOptions } from '../helpers/agent-fixtures.js';
import { buildClassifier, goldenFor, INPUTS, seededFloats } from '../fixtures/deploy-models.js';
import { createHeldClock } from '../helpers/held-clock.js';
import { driveRollout } from '../helpers/drive-rollout.js';

t.setTimeout(240_000);
const silent = pino({ level: 'silent' });
const dir = t.testdir();
const N = 10;
const modelA = buildClassifier(11);
const modelB = buildClassifier(22);
const modelC = buildClassifier(33);
const modelD = buildClassifier(44);

function makeServer(port: number): EdgefleetServer {
  const config = loadServerConfig({
    flags: {
      dataDir: join(dir, 'server'),
      port,
      host: '127.0.0.1',
      'log.level': 'silent',
      'auth.enabled': false,
      apiPort: -1,
    },
  });
  return createServer(config, { logger: silent, clock: createHeldClock() });
}

let server = makeServer(0);
const address = await server.start();
const port = address.port ?? 0;
const trusted = server.deploy().keyring.publicKeys.map((k) => parseTrustedKey(k.publicKey));
const devices = new Map<string, Device>();

async function startDevice(id: string): Promise<Device> {
  const d = await createDevice({
    link: linkOptions({ brokerUrl: address.brokerUrl, deviceId: id, logger: silent }),
    dataDir: join(dir, 'devices', id),
    trustedKeys: trusted,
    logger: silent,
    serve: { port: 0 },
    download: { windowChunks: 8, windowTimeoutMs: 400, maxStalls: 4 },
  });
  await d.start();
  devices.set(id, d);
  return d;
}

const ids = Array.from({ length: N }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
for (const id of ids) mkdirSync(join(dir, 'devices', id), { recursive: true });
await Promise.all(ids.map(startDevice));
t.teardown(async () => {
  await Promise.all([...devices.values()].map((d) => d.stop({ clean: false }).catch(() => undefined)));
  await server.stop();
});

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Ticks until the rollout is finished; returns its final status. */
async function drive(id: string, timeoutMs = 90_000): Promise<RolloutStatus> {
  await until(
    `rollout ${id} to finish`,
    async () => {
      await server.deploy().rollouts.tick();
      const s = (await server.deploy().rollouts.status(id)).rollout.state;
      return s === 'completed' || s === 'aborted';
    },
    timeoutMs,
  );
  return await server.deploy().rollouts.status(id);
}

async function servingSha(d: Device): Promise<string | null> {
  const api = d.api();
  if (!api) throw new Error('no local API');
  const res = await fetch(`${api.url}/v1/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: { x: { dims: [1, INPUTS], data: Array.from(seededFloats(INPUTS, 5)) } } }),
  });
  if (res.status !== 200) return null;
  return ((await res.json()) as { model?: { sha256: string } }).model?.sha256 ?? null;
}

await until(
  'every device registered',
  async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length === N,
);

t.test('1. a rollout to 10 devices across waves succeeds', async (t) => {
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelA },
    variantId: 'vA',
    golden: goldenFor(11),
    policy: { canary: { percent: 10 }, baseCount: 2, growthFactor: 2, deviceTimeoutMs: 60_000 },
  });
  t.same(
    started.waves.map((w) => w.size),
    [1, 2, 4, 3],
    'canary 10%, then 2, 4 and the rest',
  );
  // notifiedAt, not the state count: a fast canary may already be past `notified`.
  t.equal(
    started.devices.filter((d) => d.wave === 0 && d.notifiedAt !== null).length,
    1,
    'the canary is notified at once',
  );
  t.ok(
    started.devices.filter((d) => d.wave > 0).every((d) => d.state === 'pending' && d.notifiedAt === null),
    'nobody else yet',
  );
  const done = await drive(started.rollout.id);
  t.equal(done.rollout.state, 'completed');
  t.equal(done.outcome.succeeded, N);
  const shaA = sha256Hex(modelA);
  // The devices table follows the devices' own reports, which may land just after the rollout's last step.
  await until(
    'the devices table to know the model each device runs',
    async () => (await server.repos().devices.list()).every((d) => d.currentModel === shaA),
    10_000,
  );
  t.pass('devices table knows the model each device runs');
  for (const d of devices.values()) t.equal(await servingSha(d), shaA);
  const notified = done.devices.map((d) => d.notifiedAt ?? 0);
  const byWave = [0, 1, 2, 3].map((w) => done.devices.filter((d) => d.wave === w).map((d) => d.notifiedAt ?? 0));
  for (let w = 1; w < 4; w += 1) {
    const prevFinished = Math.max(...done.devices.filter((d) => d.wave === w - 1).map((d) => d.finishedAt ?? Infinity));
    t.ok(Math.min(...(byWave[w] ?? [])) >= prevFinished, `wave ${w} notified only after wave ${w - 1} finished`);
  }
  t.equal(notified.length, N);
});

t.test('2. a wrong golden set fails the canary: abort, nobody else receives it, old model serves', async (t) => {
  const before = server.deploy().chunks.stats().requests;
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelB },
    variantId: 'vB-bad',
    golden: goldenFor(22, 8, { wrong: true }),
    policy: { canary: { count: 2 }, baseCount: 4, abort: { failedPct: 50, minFinished: 2 }, deviceTimeoutMs: 60_000 },
  });
  const canary = started.devices.filter((d) => d.wave === 0).map((d) => d.deviceId);
  const done = await drive(started.rollout.id);
  t.equal(done.rollout.state, 'aborted');
  t.match(done.rollout.reason, /failed 2\/2/);
  t.same(
    done.devices
      .filter((d) => d.state === 'failed')
      .map((d) => d.deviceId)
      .sort(),
    canary.sort(),
  );
  t.ok(
    done.devices.filter((d) => d.wave > 0).every((d) => d.state === 'cancelled' && d.notifiedAt === null),
    'later waves cancelled, never notified',
  );
  t.ok(done.devices.every((d) => d.failure === null || d.failure.reason === 'accuracy-below-minimum'));
  for (const [id, d] of devices) {
    t.equal(await servingSha(d), sha256Hex(modelA), `${id} still serves A`);
    if (!canary.includes(id))
      t.not(d.status().lastReport?.rolloutId, started.rollout.id, `${id} never heard of the bad rollout`);
  }
  t.ok(server.deploy().chunks.stats().requests - before >= 1, 'the canary did fetch the artifact');
});

t.test('3. a damaged artifact on the server is never served, and adding the model again repairs it', async (t) => {
  const layout = await server.deploy().artifacts.put(modelC);
  const path = server.deploy().artifacts.pathOf(layout.sha256);
  const bytes = readFileSync(path);
  bytes[bytes.length - 7] = (bytes[bytes.length - 7] ?? 0) ^ 0x5a;
  writeFileSync(path, bytes);
  const before = server.deploy().chunks.stats().chunksSent;
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { sha256: layout.sha256 },
    variantId: 'vC-tampered',
    golden: goldenFor(33),
    policy: { canary: { count: 1 }, abort: { failedPct: 100, minFinished: 1 }, deviceTimeoutMs: 60_000 },
  });
  const done = await drive(started.rollout.id);
  t.equal(done.rollout.state, 'aborted');
  const canary = done.devices.find((d) => d.wave === 0);
  // The refusal often reaches the agent before its window starts waiting (with the request's PUBACK);
  // it is matched to its request by id, so the attempt ends as a refusal, not a timeout.
  t.equal(canary?.failure?.reason, 'download-refused', 'the agent names the reason: the server refused');
  t.match(canary?.failure?.detail, /damaged|hashes to/, 'and says why the server refused');
  t.equal(server.deploy().chunks.stats().chunksSent, before, 'not one chunk of the damaged file was sent');
  const d = devices.get(canary?.deviceId ?? '') as Device;
  t.equal(await servingSha(d), sha256Hex(modelA), 'the old model keeps answering the local API');
  t.notOk(await d.store.has(layout.sha256), 'nothing of the damaged artifact was installed');

  const outcomes: string[] = [];
  await server.deploy().artifacts.put(modelC, (o) => outcomes.push(o));
  t.same(outcomes, ['repaired'], 'putting the same bytes again rewrites the damaged file');
  t.equal(sha256Hex(readFileSync(path)), layout.sha256, 'the file on disk hashes to its name again');
  t.ok((await server.deploy().artifacts.bytes(layout.sha256)).equals(modelC), 'and is served again');
  await server.deploy().artifacts.put(modelC, (o) => outcomes.push(o));
  t.same(outcomes, ['repaired', 'unchanged'], 'an intact file is left alone');
});

t.test('4. a server restart mid-rollout resumes the rollout', async (t) => {
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelB },
    variantId: 'vB',
    golden: goldenFor(22),
    policy: { canary: { count: 3 }, baseCount: 3, growthFactor: 2, deviceTimeoutMs: 60_000 },
  });
  const id = started.rollout.id;
  await until('canary done', async () => (await server.deploy().rollouts.status(id)).waves[0]?.counts.succeeded === 3);
  await server.stop();
  server = makeServer(port);
  await server.start();
  const resumed = await server.deploy().rollouts.status(id);
  t.equal(resumed.rollout.state, 'in-progress', 'persisted in progress');
  t.equal(resumed.waves[1]?.counts.pending, 3, 'wave 1 not yet sent');
  const done = await drive(id);
  t.equal(done.rollout.state, 'completed');
  t.equal(done.outcome.succeeded, N);
  for (const d of devices.values()) t.equal(await servingSha(d), sha256Hex(modelB));
});

t.test('5. devices that stop answering time out, the abort fires, updated devices roll back', async (t) => {
  const silentIds = ids.slice(7);
  for (const id of silentIds) {
    await devices.get(id)?.stop({ clean: true });
    devices.delete(id);
  }
  await until(
    'three devices offline',
    async () => (await server.repos().devices.list()).filter((d) => d.state === 'offline').length === 3,
  );
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelD },
    variantId: 'vD',
    golden: goldenFor(44),
    policy: {
      canary: { count: 2 },
      baseCount: 5,
      // Generous for the devices that answer (a busy machine); the silent ones time out when only they are left.
      deviceTimeoutMs: 60_000,
      abort: { failedPct: 20, timedOutPct: 25, minFinished: 3 },
    },
  });
  t.ok(
    started.devices.filter((d) => silentIds.includes(d.deviceId)).every((d) => d.wave === 2),
    'offline devices are planned last',
  );
  const done = await driveRollout(server.deploy().rollouts, started.rollout.id, {
    silent: silentIds,
    deviceTimeoutMs: 60_000,
  });
  t.equal(done.rollout.state, 'aborted');
  t.match(done.rollout.reason, /timed out 3\/10/);
  const updated = done.devices.filter((d) => !silentIds.includes(d.deviceId));
  t.ok(
    updated.every((d) => d.state === 'rolled-back'),
    'the seven updated devices rolled back',
  );
  t.ok(
    done.devices.filter((d) => silentIds.includes(d.deviceId)).every((d) => d.state === 'timed-out'),
    'the silent ones end timed-out',
  );
  for (const u of updated) {
    const d = devices.get(u.deviceId) as Device;
    t.equal(await servingSha(d), sha256Hex(modelB), `${u.deviceId} serves B again`);
    t.equal(d.status().lastReport?.chunks.fetched, 0, "B came from the agent's own store: no chunk fetched");
  }
  t.ok(
    (await server.repos().devices.list())
      .filter((d) => !silentIds.includes(d.id))
      .every((d) => d.currentModel === sha256Hex(modelB)),
  );
});
