/**
 * A later wave failing its golden-set smoke test aborts the rollout and rolls the canary
 * back [issue 6, "What must be shown"]. On loopback with the real server (embedded aedes,
 * SQLite, deployer) and seven REAL agents (agent/src/device.ts, own data dir and
 * onnxruntime worker each): six of class rpi4 and one of another class.
 *
 * Variant A first goes to every rpi4 device (so each has a previous variant to return to).
 * Then the accelerators of dev-01..dev-05 fail (simulators/src/faults/inference-faults.ts,
 * plugged into each agent's wrapWorker seam: finite but wrong outputs), and variant B is rolled out in waves
 * [1, 2, 3] with "abort at 50% failed after 3 finished". The canary (dev-00, healthy)
 * succeeds; wave 1 (dev-01, dev-02) fails its smoke test honestly on the device; 2/3 failed
 * crosses the criterion; the rollout aborts, the canary rolls back to A, wave 2 is
 * cancelled and never sees B's manifest, nor does the device of the other class.
 * Evaluations are driven by the test (the server's clock holds its timers) so each one is explicit.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createDevice, type Device } from '@edgefleet/agent/device';
import { createServer, loadServerConfig } from '@edgefleet/server';
import type { RolloutStatus } from '@edgefleet/server/deploy/index';
import { parseTrustedKey, sha256Hex, type AnyMessage } from '@edgefleet/shared';
import { createInferenceFaults, type InferenceFaultSwitch } from '@edgefleet/simulators';
import { linkOptions } from '../helpers/agent-fixtures.js';
import { buildClassifier, goldenFor, INPUTS, predict, seededFloats } from '../fixtures/deploy-models.js';
import { createHeldClock } from '../helpers/held-clock.js';

t.setTimeout(120_000);
const silent = pino({ level: 'silent' });
const dir = t.testdir();
const modelA = buildClassifier(11);
const modelB = buildClassifier(22);
const shaA = sha256Hex(modelA);
const shaB = sha256Hex(modelB);

const config = loadServerConfig({
  flags: {
    dataDir: join(dir, 'server'),
    host: '127.0.0.1',
    port: 0,
    'log.level': 'silent',
    'auth.enabled': false,
    apiPort: -1,
  },
});
const server = createServer(config, { logger: silent, clock: createHeldClock() });
const address = await server.start();
const trusted = server.deploy().keyring.publicKeys.map((k) => parseTrustedKey(k.publicKey));
const devices = new Map<string, Device>();
/** Each device's inference fault switch, plugged into its wrapWorker seam. */
const faults = new Map<string, InferenceFaultSwitch>();
/** Artifact digests of every desired-state manifest each agent received. */
const seen = new Map<string, string[]>();

async function startDevice(id: string, deviceClass: string): Promise<void> {
  mkdirSync(join(dir, 'devices', id), { recursive: true });
  const fault = createInferenceFaults();
  faults.set(id, fault);
  const d = await createDevice({
    link: linkOptions({ brokerUrl: address.brokerUrl, deviceId: id, deviceClass, logger: silent }),
    dataDir: join(dir, 'devices', id),
    trustedKeys: trusted,
    logger: silent,
    serve: { port: 0 },
    telemetry: false,
    download: { windowChunks: 8, windowTimeoutMs: 400, maxStalls: 4 },
    wrapWorker: fault.wrap,
  });
  seen.set(id, []);
  d.link.on('desired', (m: AnyMessage | null) => {
    if (m?.type === 'desired') seen.get(id)?.push(m.body.artifact.sha256);
  });
  await d.start();
  devices.set(id, d);
}

const ids = Array.from({ length: 6 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
const other = 'cam-99';
await Promise.all([...ids.map((id) => startDevice(id, 'rpi4')), startDevice(other, 'jetson')]);
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

async function drive(id: string): Promise<RolloutStatus> {
  await until(`rollout ${id} to finish`, async () => {
    await server.deploy().rollouts.tick();
    const s = (await server.deploy().rollouts.status(id)).rollout.state;
    return s === 'completed' || s === 'aborted';
  });
  return await server.deploy().rollouts.status(id);
}

const probe = seededFloats(INPUTS, 5);
/** What the device's local inference API answers: the serving model's digest and its top-1 class. */
async function ask(id: string): Promise<{ sha256: string; top1: number }> {
  const api = devices.get(id)?.api();
  if (!api) throw new Error(`${id} has no local API`);
  const res = await fetch(`${api.url}/v1/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: { x: { dims: [1, INPUTS], data: Array.from(probe) } } }),
  });
  const body = (await res.json()) as { model: { sha256: string }; outputs: Record<string, { data: number[] }> };
  const y = body.outputs.y?.data ?? [];
  return { sha256: body.model.sha256, top1: y.indexOf(Math.max(...y)) };
}

await until(
  'every device registered',
  async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length === ids.length + 1,
);

t.test('a later wave failing its smoke test aborts the rollout and the canary rolls back', async (t) => {
  const first = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelA },
    variantId: 'vA',
    golden: goldenFor(11),
    policy: { canary: { count: 1 }, baseCount: 5, deviceTimeoutMs: 60_000 },
  });
  t.equal((await drive(first.rollout.id)).outcome.succeeded, ids.length, 'A is on every rpi4 device first');

  // The accelerators of every device but the canary now compute wrongly.
  for (const id of ids.slice(1)) faults.get(id)?.set({ corruptOutputs: true });
  const faulty = await ask('dev-01');
  t.equal(faulty.sha256, shaA);
  t.not(faulty.top1, predict(11, probe)[0], 'the fault is real: a faulty device now answers a wrong class');

  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: modelB },
    variantId: 'vB',
    golden: goldenFor(22),
    policy: {
      canary: { count: 1 },
      baseCount: 2,
      growthFactor: 2,
      abort: { failedPct: 50, minFinished: 3 },
      deviceTimeoutMs: 60_000,
    },
  });
  const waveOf = (w: number): string[] =>
    started.devices
      .filter((d) => d.wave === w)
      .map((d) => d.deviceId)
      .sort();
  t.same(
    started.waves.map((w) => w.size),
    [1, 2, 3],
    'canary 1, then 2, then 3',
  );
  t.same(waveOf(0), ['dev-00'], 'the healthy device is the canary');
  t.notOk(
    started.devices.some((d) => d.deviceId === other),
    'the other class is in no wave',
  );

  const done = await drive(started.rollout.id);
  t.equal(done.rollout.state, 'aborted');
  t.match(done.rollout.reason, /abort criteria met: failed 2\/3/, 'aborted on the failure percentage once 3 finished');

  const row = (id: string) => done.devices.find((d) => d.deviceId === id);
  t.equal(row('dev-00')?.state, 'rolled-back', 'the canary had succeeded and was rolled back');
  t.equal(row('dev-00')?.agentState, 'rollback:succeeded', 'the canary agent confirmed the rollback');
  for (const id of waveOf(1)) {
    t.equal(row(id)?.state, 'failed', `${id} failed`);
    t.match(
      row(id)?.failure,
      { step: 'smoke-test', reason: 'accuracy-below-minimum' },
      `${id} failed its golden-set smoke test on the device`,
    );
    t.equal((await ask(id)).sha256, shaA, `${id} kept serving A (its last-known-good)`);
  }
  for (const id of waveOf(2)) {
    t.match(row(id), { state: 'cancelled', notifiedAt: null }, `${id}: wave 2 cancelled, never notified`);
    t.notOk(seen.get(id)?.includes(shaB), `${id} never received B's manifest`);
  }
  t.notOk(seen.get(other)?.includes(shaB), 'the device of the other class never received B');
  t.ok(seen.get('dev-00')?.includes(shaB), 'the canary did receive B (the record above is not vacuous)');

  const canary = await ask('dev-00');
  t.equal(canary.sha256, shaA, "the canary's local API serves A again");
  t.equal(canary.top1, predict(11, probe)[0], "and answers A's class for the probe");
  t.equal(devices.get('dev-00')?.status().serving?.sha256, shaA, 'its runtime reports A as current');
  const table = new Map((await server.repos().devices.list()).map((d) => [d.id, d.currentModel]));
  t.ok(
    ids.every((id) => table.get(id) === shaA),
    'the devices table says every rpi4 device runs A',
  );
  t.equal(table.get(other), null, 'and the other-class device runs nothing');
});
