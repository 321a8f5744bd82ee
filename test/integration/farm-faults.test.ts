/**
 * Scheduled faults on farm devices, on a virtual clock over the real server and broker: a
 * crash stops a device's windows and its connection until the fault ends (its sequence goes on
 * where it stopped), clock skew shifts what a device stamps, throttling slows what it reports,
 * and a slow link stretches an install by the artifact's bytes over the link speed.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import pino from 'pino';
import { createServer, loadServerConfig } from '@edgefleet/server';
import {
  attachFarmDeploy,
  createVirtualClocks,
  parseFaults,
  startFarm,
  type VirtualClock,
} from '@edgefleet/simulators';
import { createSettler, lockstep } from '../helpers/scenario/settle.js';

const START = 1_800_000_000_000;
const MIN = 60_000;
const GOLDEN = { inputs: {}, labels: [0], minAccuracy: 0 };

t.test('crash, clock skew, throttling and a slow link, as the server sees them', async (t) => {
  const logger = pino({ level: 'silent' });
  // One virtual time; the devices' timers and the server's fire in turn (test/helpers/scenario/settle.ts).
  const [clock, serverClock] = createVirtualClocks(START, 2) as [VirtualClock, VirtualClock];
  // One testdir per test: a second t.testdir() call would empty the first.
  const dir = t.testdir();
  const config = loadServerConfig({
    flags: {
      dataDir: join(dir, 'server'),
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'auth.enabled': false,
      'log.level': 'silent',
      'control.enabled': false,
    },
  });
  const server = createServer(config, { logger, clock: serverClock });
  const address = await server.start();
  t.teardown(() => server.stop());
  // sim-1 crashes for 3 minutes, sim-2's clock runs 5 minutes ahead and its link is slow, sim-3 is throttled 3×.
  const faults = parseFaults([
    { kind: 'crash', target: { deviceIds: ['sim-1'] }, startAt: START + 2 * MIN, durationMs: 3 * MIN },
    { kind: 'clock-skew', target: { deviceIds: ['sim-2'] }, startAt: START, skewMs: 5 * MIN },
    { kind: 'slow-link', target: { deviceIds: ['sim-2'] }, startAt: START, bytesPerSecond: 10_000 },
    { kind: 'thermal-throttle', target: { deviceIds: ['sim-3'] }, startAt: START + 2 * MIN, slowdown: 3, rampMs: 0 },
  ]);
  const model = {
    sha256: 'a'.repeat(64),
    variantId: 'v0',
    precision: 'fp32' as const,
    hostLatencyMs: 5,
    goldenAccuracy: 0.9,
    bytes: 1000,
  };
  const farm = await startFarm({
    brokerUrl: address.brokerUrl,
    devices: 3,
    classes: ['rpi4'],
    seed: 3,
    logger,
    clock,
    faults,
    telemetry: { dataDir: join(dir, 'farm'), windowMs: 10_000, ratePerS: 5, model: () => model },
  });
  t.teardown(() => farm.stop());
  const settler = createSettler({ server, devices: farm.devices, loop: null, logger });
  await settler.untilOnline(3);
  await settler.settle();
  const step = lockstep({ devices: clock, server: serverClock, scheduler: server.scheduler, settler });
  const advance = async (to: number) => {
    for (let at = clock.now() + 5_000; at <= to; at += 5_000) await step(at);
  };

  await advance(START + 8 * MIN);
  const series = (id: string) => server.telemetry().deviceSeries(id, { limit: 1000 });
  const crashed = await series('sim-1');
  const during = crashed.filter((w) => w.windowEnd > START + 2 * MIN + 10_000 && w.windowStart < START + 5 * MIN);
  t.same(during, [], 'no window covers the crash');
  t.same(
    crashed.map((w) => w.seq),
    Array.from({ length: crashed.length }, (_, i) => i),
    'its sequence goes on after the restart, no hole',
  );
  t.ok(
    crashed.some((w) => w.windowStart >= START + 5 * MIN),
    'it reports again after the restart',
  );
  const sim1 = farm.devices.find((d) => d.deviceId === 'sim-1');
  t.ok(
    (sim1?.stats().connectionsLost ?? 0) >= 1 && (sim1?.stats().connects ?? 0) >= 2,
    'the crash dropped its connection and the restart reconnected',
  );
  t.equal((await server.repos().devices.get('sim-1'))?.state, 'online', 'online again on the server');
  t.same(await server.telemetry().gaps(), [], 'no sequence gap on any device');

  const skewed = (await series('sim-2')).at(-1);
  t.ok(
    skewed && Math.abs(skewed.windowEnd - (clock.now() + 5 * MIN)) <= 10_000,
    `sim-2 stamps its windows 5 minutes ahead (${((skewed?.windowEnd ?? 0) - clock.now()) / 1000} s)`,
  );

  const before = (await series('sim-3')).filter((w) => w.windowEnd <= START + 2 * MIN).map((w) => w.p95Ms ?? 0);
  const after = (await series('sim-3')).filter((w) => w.windowStart >= START + 2 * MIN).map((w) => w.p95Ms ?? 0);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  t.ok(
    mean(after) / mean(before) > 2.5 && mean(after) / mean(before) < 3.5,
    `throttled p95 ${mean(after).toFixed(1)} ms vs ${mean(before).toFixed(1)} ms before`,
  );
  t.same(
    (await series('sim-3')).filter((w) => w.windowStart >= START + 2 * MIN).map((w) => w.throttled),
    after.map(() => true),
    'and says it is throttled',
  );

  // A 100 kB artifact: sim-2's link (10 kB/s) adds 10 s to its install. Its bytes must not
  // compress (artifacts travel gzip-encoded when that is smaller), so they are a hash stream.
  const bytes = Buffer.concat(
    Array.from({ length: 3125 }, (_, i) => createHash('sha256').update(`block ${i}`).digest()),
  );
  const detach = attachFarmDeploy(farm.devices, {
    clock,
    installMs: 1000,
    variant: () => ({ precision: 'fp32', hostLatencyMs: 5, goldenAccuracy: 0.9, bytes: bytes.length }),
  });
  t.teardown(detach);
  const started = await server
    .deploy()
    .rollouts.start({ deviceClass: 'rpi4', artifact: { bytes }, golden: GOLDEN, policy: { canary: { count: 3 } } });
  await settler.settle();
  await advance(clock.now() + 30_000);
  const status = await server.deploy().rollouts.status(started.rollout.id);
  t.equal(status.rollout.state, 'completed');
  const took = (id: string) => {
    const d = status.devices.find((x) => x.deviceId === id);
    return (d?.finishedAt ?? 0) - (d?.notifiedAt ?? 0);
  };
  t.ok(
    took('sim-2') >= 11_000 && took('sim-1') < 10_000,
    `install on the slow link took ${took('sim-2') / 1000} s, elsewhere ${took('sim-1') / 1000} s`,
  );
  // Their heartbeats say what they serve, as an agent's do: a server that read "nothing" would
  // catch the whole class up to the model it already runs, again and again.
  await advance(clock.now() + 10_000);
  const sha = createHash('sha256').update(bytes).digest('hex');
  for (const id of ['sim-1', 'sim-2', 'sim-3'])
    t.equal((await server.repos().devices.get(id))?.currentModel, sha, `${id} is recorded as serving the variant`);
  t.same(await server.deploy().desired.reconcile(clock.now()), [], 'no catch-up of a class already on it');
});
