/**
 * Real-inference farm mode [issue 7]: four farm devices, each a full agent device with its
 * own data dir and onnxruntime worker, receive a signed rollout from the real server (embedded
 * broker, SQLite), run a synthetic workload on it, and report windows whose latency is
 * measured (scaled by the class speed factor, and labelled so) and whose power is modelled;
 * the server stores those windows.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { BUILTIN_PROFILES, startFarm } from '@edgefleet/simulators';
import type { RealVirtualDevice } from '@edgefleet/simulators/real/index';
import { parseTrustedKey, sha256Hex, type TelemetryWindow } from '@edgefleet/shared';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { createHeldClock } from '../helpers/held-clock.js';

t.setTimeout(60_000);
const silent = pino({ level: 'silent' });
const dir = t.testdir();
const config = loadServerConfig({
  flags: {
    dataDir: join(dir, 'server'),
    port: 0,
    host: '127.0.0.1',
    'log.level': 'silent',
    'auth.enabled': false,
    apiPort: -1,
  },
});
// A held clock: the test evaluates rollouts itself (no scheduled evaluation behind its back)
// and lets the telemetry batch deadlines pass (runDue) where it waits for acknowledgements.
const clock = createHeldClock();
const server = createServer(config, { logger: silent, clock });
const address = await server.start();
const trustedKeys = server.deploy().keyring.publicKeys.map((k) => parseTrustedKey(k.publicKey));
const farmDir = join(dir, 'farm');
const farm = await startFarm({
  brokerUrl: address.brokerUrl,
  devices: 4,
  classes: ['rpi4'],
  seed: 7,
  logger: silent,
  idPrefix: 'real',
  heartbeatMs: 200,
  keepaliveS: 2,
  inference: 'real',
  real: { dataDir: farmDir, trustedKeys, intraOpNumThreads: 1, workloadRatePerS: 25, windowMs: 0 },
});
t.teardown(async () => {
  await farm.stop().catch(() => undefined);
  await server.stop();
});
const devices = farm.devices as readonly RealVirtualDevice[];

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 25_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

t.test('a 4-device real-inference farm takes a rollout and reports measured latency', async (t) => {
  await until(
    'every device registered',
    async () => (await server.repos().devices.list()).filter((d) => d.state === 'online').length === 4,
  );
  t.ok(
    devices.every((d) => existsSync(join(farmDir, d.deviceId))),
    'each device has its own data dir under the farm dir',
  );
  const model = buildClassifier(11);
  const started = await server.deploy().rollouts.start({
    deviceClass: 'rpi4',
    artifact: { bytes: model },
    variantId: 'vA',
    golden: goldenFor(11),
    policy: { canary: { count: 1 }, baseCount: 3, deviceTimeoutMs: 20_000 },
  });
  await until('rollout completed', async () => {
    await server.deploy().rollouts.tick();
    const s = (await server.deploy().rollouts.status(started.rollout.id)).rollout.state;
    return s === 'completed' || s === 'aborted';
  });
  const st = await server.deploy().rollouts.status(started.rollout.id);
  t.equal(st.rollout.state, 'completed');
  const sha = sha256Hex(model);
  t.ok(
    devices.every((d) => d.agent.status().serving?.sha256 === sha),
    'every device serves the rolled-out model',
  );

  // Real inferences on each device's own worker, then a window per device.
  await until('inferences on every device', () => devices.every((d) => d.agent.serving.stats().inferences >= 10));
  const factor = BUILTIN_PROFILES.get('rpi4')?.speed.latencyMultiplier.fp32 ?? 1;
  const windows: TelemetryWindow[] = [];
  for (const d of devices) {
    const telemetry = d.agent.telemetry;
    if (!telemetry) throw new Error('telemetry off');
    windows.push(telemetry.closeWindow());
  }
  for (const w of windows) {
    t.equal(w.model?.sha256, sha, `${w.deviceId}: window names the serving model`);
    t.ok(w.inferences >= 10, `${w.deviceId}: ${w.inferences} real inferences in the window`);
    t.equal(w.latencyMs?.source, 'measured', 'latency is measured');
    t.equal(w.latencyMs?.speedFactor, factor, 'scaled by the class speed factor, and says so');
    t.ok(
      (w.latencyMs?.p95 ?? 0) > 0 && (w.latencyMs?.p95 ?? 0) >= (w.latencyMs?.p50 ?? Infinity),
      'latency percentiles are ordered',
    );
    t.equal(w.power?.source, 'modelled', 'power is modelled');
    t.equal(w.power?.sensor, 'profile');
  }
  // A throttled device reports a larger factor in its next window.
  const first = devices[0] as RealVirtualDevice;
  first.condition.speedFactor = 2;
  const before = first.agent.serving.stats().inferences;
  await until('more inferences', () => first.agent.serving.stats().inferences >= before + 5);
  t.equal(first.agent.telemetry?.closeWindow().latencyMs?.speedFactor, factor * 2, 'faults multiply the factor');

  const measured = async (deviceId: string) =>
    (await server.telemetry().deviceSeries(deviceId)).some((r) => r.modelSha === sha && (r.p95Ms ?? 0) > 0);
  await until('server ingested every window', async () =>
    (await Promise.all(devices.map((d) => measured(d.deviceId)))).every(Boolean),
  );
  for (const d of devices) {
    const rows = await server.repos().telemetry.windows(d.deviceId, {});
    t.ok(
      rows.some((r) => r.inferences >= 10),
      `${d.deviceId}: server stored its windows`,
    );
  }
  // Real-inference devices use server acknowledgements [EF-PROTO 8.2]: the outbox empties only
  // because the real server acknowledged what it committed.
  await until("every outbox emptied by the server's acknowledgements", () => {
    clock.runDue();
    return devices.every((d) => d.agent.telemetry?.stats().pending === 0);
  });
  for (const d of devices) {
    const stats = d.agent.telemetry?.stats();
    t.match(stats, { delivery: 'server-ack', unmatchedAcks: 0 });
    t.ok(
      stats && stats.windows > 0 && stats.acked === stats.windows + stats.breaches,
      `${d.deviceId}: each of its ${stats?.windows} windows acknowledged by the server`,
    );
  }
});

t.test('real mode refuses a farm too large for one worker per device, and missing settings', async (t) => {
  await t.rejects(
    startFarm({
      brokerUrl: address.brokerUrl,
      devices: 101,
      classes: ['rpi4'],
      logger: silent,
      inference: 'real',
      real: { dataDir: farmDir, trustedKeys },
    }),
    /use sampled inference/,
  );
  await t.rejects(
    startFarm({ brokerUrl: address.brokerUrl, devices: 2, classes: ['rpi4'], logger: silent, inference: 'real' }),
    /real inference needs its settings/,
  );
});
