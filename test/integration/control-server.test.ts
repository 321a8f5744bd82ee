/**
 * The control loop inside the real server: windows over the real broker alone wait for the
 * next tick (an hour away here), while an agent's breach event reconciles the class at once and
 * leaves a stored decision; `control.enabled: false` runs no loop; stop() ends it cleanly.
 */
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { listDecisions, parseControlPolicy } from '@edgefleet/server/control/index';
import {
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  type AnyMessage,
  type Breach,
  type TelemetryWindow,
} from '@edgefleet/shared';
import pino from 'pino';
import { clockAt } from '../helpers/held-clock.js';

const T = 1_800_000_000_000;
const SHA = 'c'.repeat(64);

function win(deviceId: string, seq: number, p95: number): TelemetryWindow {
  const end = T - (10 - seq) * 5_000;
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'cam',
    seq,
    windowStart: end - 5_000,
    windowEnd: end,
    model: { sha256: SHA, variantId: 'v-fp32' },
    inferences: 20,
    errors: 0,
    latencyMs: { p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    dutyCycle: 0.2,
    power: { watts: 4, energyPerInferenceMj: 200, source: 'modelled', sensor: 'profile' },
    accuracy: {},
    memory: { rssBytes: 1000 },
    thermal: { throttled: false },
    clock: { source: 'virtual', durationMs: 5_000 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: end,
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startServer(t: Test, enabled: boolean) {
  const base = loadServerConfig({
    flags: {
      dataDir: t.testdir(),
      port: 0,
      host: '127.0.0.1',
      'log.level': 'silent',
      'auth.enabled': false,
      apiPort: -1,
      'control.tickSeconds': 3600,
      'control.enabled': enabled,
    },
  });
  // No hysteresis: the breach event itself is enough for the loop to act on.
  const config = { ...base, control: { ...base.control, policy: parseControlPolicy({ hysteresisMs: 0 }) } };
  const server = createServer(config, {
    logger: pino({ level: 'silent' }),
    // The loop decides at T; timers run in real time (telemetry batches, breach wake-ups).
    clock: clockAt(() => T),
  });
  const address = await server.start();
  t.teardown(() => server.stop());
  await server.services().classes.create({
    name: 'cam',
    capabilities: { precisions: ['fp32', 'int8'], memoryBytes: 1 << 30, storageBytes: 1 << 30, cores: 4 },
    speedModel: { version: 't-1', factors: { fp32: 2, int8: 1 } },
    powerModel: { idleW: 1, activeW: { fp32: 4, int8: 4 } },
    budgets: { maxP95LatencyMs: 30 },
  });
  const device = await mqtt.connectAsync(address.brokerUrl, { protocolVersion: 4, clientId: 'cam-1' });
  t.teardown(() => device.endAsync());
  const publish = async (m: AnyMessage, channel: 'telemetry' | 'events') => {
    await device.publishAsync(deviceTopic('cam-1', channel), encodeMessage(m), { qos: 1 });
  };
  return { server, publish };
}

const breach: Breach = {
  type: 'breach',
  v: PROTOCOL_VERSION,
  deviceId: 'cam-1',
  deviceClass: 'cam',
  budget: 'latencyP95Ms',
  state: 'breached',
  measured: 45,
  limit: 30,
  unit: 'ms',
  breachedWindows: 5,
  k: 3,
  n: 5,
  windowSeqs: [0, 1, 2, 3, 4],
  model: { sha256: SHA, variantId: 'v-fp32' },
  throttled: false,
  sentAt: T,
};

t.test('a breach event over the broker reconciles its class at once; windows alone wait for the tick', async (t) => {
  const { server, publish } = await startServer(t, true);
  t.ok(server.control(), 'the server runs a control loop');
  for (let seq = 0; seq < 5; seq += 1) await publish(win('cam-1', seq, 45), 'telemetry');
  await until(() => server.telemetry().stats().received === 5, 'five windows ingested');
  await new Promise((r) => setTimeout(r, 200));
  t.same(
    await listDecisions(server.repos().control, { deviceClass: 'cam' }),
    [],
    'breaching windows alone: no decision before the tick',
  );

  await publish(breach, 'events');
  await until(
    async () => (await listDecisions(server.repos().control, { deviceClass: 'cam' })).length > 0,
    'a stored decision',
  );
  const [first] = await listDecisions(server.repos().control, { deviceClass: 'cam' });
  t.match(
    first,
    { deviceClass: 'cam', at: T, budgets: ['latency'] },
    'decided at the injected clock on the latency breach',
  );
  t.match(first?.reason, /no plan/, 'the reason says why nothing could be rolled out');
  t.match(first?.summary, { activeDevices: 1, breachingDevices: 1 }, 'the snapshot saw the device breaching');

  // The same cycle on demand (what a tick runs) agrees and is serialised with the breach wake-up.
  const results = await server.control()?.loop.reconcileOnce(T + 1, ['cam']);
  t.equal(results?.length, 1, 'reconcileOnce judges the class');
});

t.test('control.enabled false: no loop, breach events are only stored', async (t) => {
  const { server, publish } = await startServer(t, false);
  t.equal(server.control(), null);
  await publish(breach, 'events');
  await until(
    async () => (await server.telemetry().breaches({ deviceClass: 'cam' })).length === 1,
    'the breach stored',
  );
  t.same(await listDecisions(server.repos().control, { deviceClass: 'cam' }), []);
});

t.test('one planner for the API and the loop; MQTT traffic counted per channel and per device', async (t) => {
  const { server, publish } = await startServer(t, true);
  t.equal(
    server.control()?.planner,
    server.planner(),
    "the loop plans with the server's one planner (the API is given the same)",
  );
  for (let seq = 0; seq < 3; seq += 1) await publish(win('cam-1', seq, 10), 'telemetry');
  await until(() => (server.mqttTraffic('cam-1')?.received['telemetry'] ?? 0) === 3, 'three windows counted for cam-1');
  t.equal(server.mqttTraffic().received['telemetry'], 3, 'and in the total');
  t.equal(server.mqttTraffic('nobody'), null, 'a device never heard of has no counts');
  t.match(
    await server.metrics.render(),
    /edgefleet_mqtt_messages_total\{direction="in",channel="telemetry"\} 3/,
    'exported to Prometheus',
  );
});
