/**
 * Simulated devices publish modelled telemetry through the real agent pipeline: latency
 * follows the profile's multiplier for the served precision, power is the profile's model
 * (labelled modelled), and a device condition (a fault's handle) shows in the next windows
 * and trips the budget watcher.
 */
import t, { type Test } from 'tap';
import { BUILTIN_PROFILES, startFarm, type SimulatedModel } from '@edgefleet/simulators';
import { createBrokerClient } from '@edgefleet/server/broker/client';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import { createTelemetryService } from '@edgefleet/server/telemetry/index';
import { startTestBroker } from '../helpers/broker.js';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { systemClock } from '@edgefleet/shared';

const CLASSES = ['rpi4', 'jetson-orin'];
const model = (): SimulatedModel => ({
  sha256: 'c'.repeat(64),
  variantId: 'mlp-int8',
  precision: 'int8',
  hostLatencyMs: 4,
  goldenAccuracy: 0.96,
  bytes: 100_000,
  budgets: { latencyP95Ms: 20 },
});

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function run(t: Test, seed: number) {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const { logger } = recordingLogger('warn');
  const store = openSqliteStore({ dataDir: t.testdir() });
  const client = await createBrokerClient({ url: broker.url, clientId: `server-sim-${seed}`, logger });
  const service = createTelemetryService({
    telemetry: store.repos.telemetry,
    classes: store.repos.classes,
    client,
    clock: systemClock,
    logger,
    flushIntervalMs: 10,
    activeWithinMs: 1e12,
  });
  await service.start();
  t.teardown(async () => {
    await service.stop();
    await client.close();
    await store.close();
  });
  const farm = await startFarm({
    brokerUrl: broker.url,
    devices: 4,
    classes: CLASSES,
    seed,
    logger,
    heartbeatMs: 1_000,
    telemetry: { dataDir: t.testdir(), windowMs: 0, ratePerS: 20, model, watcher: { k: 2, n: 3 } },
  });
  t.teardown(() => farm.stop());
  await until(() => farm.devices.every((d) => d.isOnline()), 'farm online');
  return { farm, service };
}

t.test('modelled latency and power per profile; a condition change breaches the budget', async (t) => {
  const { farm, service } = await run(t, 7);
  // windowMs 0 and the system clock: each closeWindow covers the real time since the last one.
  await new Promise((r) => setTimeout(r, 500));
  for (const d of farm.devices) d.telemetry?.telemetry.closeWindow();
  const stored = async (d: { deviceId: string }) => (await service.deviceSeries(d.deviceId)).length;
  await until(async () => (await Promise.all(farm.devices.map(stored))).every((n) => n === 1), 'a window per device');
  for (const d of farm.devices) {
    const [w] = await service.deviceSeries(d.deviceId);
    const expected = 4 * (BUILTIN_PROFILES.get(d.deviceClass)?.speed.latencyMultiplier.int8 ?? NaN);
    t.ok(w && w.inferences >= 5, `${d.deviceId}: modelled inferences (${w?.inferences})`);
    t.ok(
      w && w.meanMs !== null && Math.abs(w.meanMs - expected) / expected < 0.25,
      `${d.deviceId} (${d.deviceClass}): mean ${w?.meanMs} ms near ${expected} ms`,
    );
    t.equal(w?.powerSource, 'modelled');
    t.equal(w?.goldenAccuracy, 0.96);
    t.equal(w?.throttled, false);
  }

  const rpi = farm.devices.filter((d) => d.deviceClass === 'rpi4');
  for (const d of rpi)
    if (d.telemetry) {
      d.telemetry.condition.speedFactor = 4;
      d.telemetry.condition.throttled = true;
    }
  for (let i = 0; i < 2; i += 1) {
    await new Promise((r) => setTimeout(r, 300)); // time for modelled inferences in the window
    for (const d of farm.devices) d.telemetry?.telemetry.closeWindow();
  }
  await until(
    async () => (await service.breaches({ deviceClass: 'rpi4' })).length === rpi.length,
    'a breach from every throttled rpi4',
  );
  t.same(await service.breaches({ deviceClass: 'jetson-orin' }), [], 'the healthy class stays quiet');
  const status = await service.classBudgetStatus('rpi4', { k: 2, n: 3 });
  t.match(status, { breachingDevices: rpi.length, throttledDevices: rpi.length, budgetSource: 'manifest' });
  t.match((await service.breaches({ deviceClass: 'rpi4' }))[0]?.breach, {
    budget: 'latencyP95Ms',
    state: 'breached',
    limit: 20,
    throttled: true,
  });
  // Farm devices keep each entry until the server acknowledged it, as real agents do.
  await until(
    () => farm.devices.every((d) => d.telemetry?.telemetry.stats().pending === 0),
    "every outbox emptied by the server's acknowledgements",
  );
  for (const d of farm.devices) {
    const stats = d.telemetry?.telemetry.stats();
    t.match(
      stats,
      {
        delivery: 'server-ack',
        windows: 3,
        breaches: d.deviceClass === 'rpi4' ? 1 : 0,
        acked: 3 + (d.deviceClass === 'rpi4' ? 1 : 0),
        unmatchedAcks: 0,
      },
      `${d.deviceId}: three windows${d.deviceClass === 'rpi4' ? ' and a breach' : ''} acknowledged`,
    );
  }
});
