/**
 * Server-side ingestion over a real broker and a real SQLite store: windows published by a
 * plain MQTT client are validated, deduplicated by (device, seq), gaps are recorded and
 * closed by late arrivals, per-class minute rollups add up, breach events are stored and
 * announced, and budget status follows the k-of-n rule.
 */
import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { createBrokerClient } from '@edgefleet/server/broker/client';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import { createTelemetryService, type TelemetryService } from '@edgefleet/server/telemetry/index';
import {
  allDevicesFilter,
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  type AnyMessage,
  type Breach,
  type Clock,
  type TelemetryWindow,
} from '@edgefleet/shared';
import { startTestBroker } from '../helpers/broker.js';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { watchTopics } from '../helpers/mqtt-watch.js';
import { clockAt, createHeldClock } from '../helpers/held-clock.js';

const SHA = 'b'.repeat(64);
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000); // a minute boundary

function win(deviceId: string, seq: number, p95: number, extra: Partial<TelemetryWindow> = {}): TelemetryWindow {
  const end = T0 + (seq + 1) * 10_000;
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    seq,
    windowStart: end - 10_000,
    windowEnd: end,
    model: { sha256: SHA, variantId: 'v-int8' },
    inferences: 20,
    errors: 0,
    latencyMs: { p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    dutyCycle: 0.2,
    power: { watts: 4, energyPerInferenceMj: 2000, source: 'modelled', sensor: 'profile' },
    accuracy: { goldenAccuracy: 0.95, goldenAt: end },
    memory: { rssBytes: 1000 },
    thermal: { throttled: false },
    clock: { source: 'virtual', durationMs: 10_000 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: end,
    ...extra,
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(
  t: Test,
  options: { windowRetentionMs?: number; clock?: Clock } = {},
): Promise<{
  service: TelemetryService;
  brokerUrl: string;
  publish: (m: AnyMessage, channel?: 'telemetry' | 'events') => Promise<void>;
  publishRaw: (topic: string, payload: string) => Promise<void>;
  /** Every rejection the service's inbound router counted, in order. */
  rejected: Array<{ reason: string }>;
}> {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const store = openSqliteStore({ dataDir: t.testdir() });
  const { logger } = recordingLogger('warn');
  const client = await createBrokerClient({ url: broker.url, clientId: 'server-test', logger });
  const rejected: Array<{ reason: string }> = [];
  const service = createTelemetryService({
    telemetry: store.repos.telemetry,
    classes: store.repos.classes,
    client,
    onReject: (r) => rejected.push(r),
    clock: options.clock ?? clockAt(() => T0 + 60_000),
    logger,
    batchSize: 5,
    flushIntervalMs: 20,
    activeWithinMs: 3_600_000,
    ...(options.windowRetentionMs === undefined ? {} : { windowRetentionMs: options.windowRetentionMs }),
  });
  await service.start();
  t.teardown(async () => {
    await service.stop();
    await client.close();
    await store.close();
  });
  const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'publisher' });
  t.teardown(() => device.endAsync());
  return {
    service,
    rejected,
    brokerUrl: broker.url,
    publish: async (m, channel = m.type === 'telemetry' ? 'telemetry' : 'events') => {
      await device.publishAsync(deviceTopic((m as { deviceId: string }).deviceId, channel), encodeMessage(m), {
        qos: 1,
      });
    },
    publishRaw: async (topic, payload) => {
      await device.publishAsync(topic, payload, { qos: 1 });
    },
  };
}

t.test('dedupe by (device, seq), gaps recorded and closed by late windows, rollups per class and minute', async (t) => {
  const { service, publish } = await setup(t);
  for (const seq of [0, 1, 2, 1, 2, 5, 6]) await publish(win('dev-a', seq, 40 + seq));
  await publish(win('dev-b', 0, 100, { thermal: { throttled: true } }));
  await until(() => service.stats().received === 8, '8 windows received');
  t.same(
    (await service.deviceSeries('dev-a')).map((w) => w.seq),
    [0, 1, 2, 5, 6],
    'duplicates stored once, in seq order',
  );
  t.equal(service.stats().duplicates, 2);
  t.same(
    (await service.gaps('dev-a')).map((g) => [g.fromSeq, g.toSeq, g.closedAt === null]),
    [[3, 4, true]],
    'one open gap 3..4',
  );

  await publish(win('dev-a', 3, 43));
  await publish(win('dev-a', 4, 44));
  await publish(win('dev-a', 4, 44)); // a late duplicate too
  await until(() => service.stats().received === 11, 'late windows received');
  t.same(
    (await service.deviceSeries('dev-a')).map((w) => w.seq),
    [0, 1, 2, 3, 4, 5, 6],
  );
  t.same(
    (await service.gaps('dev-a')).map((g) => [g.filled, g.closedAt !== null]),
    [[2, true]],
    'the gap is closed once both arrived',
  );
  t.match(await service.device('dev-a'), { maxSeq: 6, windows: 7, duplicates: 3 });

  const minutes = await service.classSeries('rpi4');
  const total = minutes.reduce((a, m) => a + m.windows, 0);
  t.equal(total, 8, 'every stored window is in exactly one minute rollup, duplicates in none');
  t.equal(minutes[0]?.minute, T0, 'windows ending in the first minute');
  t.same(
    minutes.map((m) => m.windows),
    [6, 2],
    'ends at T0+10 s … T0+50 s (dev-a 0–4, dev-b 0) fall in minute 0; 60 s and 70 s (dev-a 5, 6) in minute 1',
  );
  t.equal(
    minutes.reduce((a, m) => a + m.throttledWindows, 0),
    1,
  );
  t.ok(Math.abs((minutes[1]?.meanP95Ms ?? 0) - (45 + 46) / 2) < 1e-9, 'mean p95 of the second minute');
  t.equal(minutes[0]?.maxP95Ms, 100);
});

t.test('bad telemetry is rejected and counted, never stored', async (t) => {
  const { service, publish, publishRaw, rejected } = await setup(t);
  await publishRaw(deviceTopic('dev-c', 'telemetry'), '{not json');
  await publishRaw(deviceTopic('dev-c', 'telemetry'), JSON.stringify({ ...win('dev-c', 0, 10), inferences: -1 }));
  await publish(win('dev-OTHER', 0, 10), 'telemetry').catch(() => undefined);
  await publishRaw(deviceTopic('dev-c', 'telemetry'), encodeMessage(win('dev-d', 0, 10)).toString()); // device mismatch
  await publish(win('dev-c', 0, 10));
  await until(() => rejected.length === 3 && service.stats().received === 2, 'rejections counted');
  t.same(
    rejected.map((r) => r.reason),
    ['malformed-json', 'schema', 'device-mismatch'],
    'each bad message counted once, by reason',
  );
  t.same(
    (await service.deviceSeries('dev-c')).map((w) => w.seq),
    [0],
  );
  t.same(await service.deviceSeries('dev-d'), []);
});

t.test('breach events are stored and announced; budget status follows k of n', async (t) => {
  const { service, publish } = await setup(t);
  const announced: Breach[] = [];
  service.onBreach((b) => announced.push(b));
  const breach: Breach = {
    type: 'breach',
    v: PROTOCOL_VERSION,
    deviceId: 'dev-a',
    deviceClass: 'rpi4',
    budget: 'latencyP95Ms',
    state: 'breached',
    measured: 70,
    limit: 50,
    unit: 'ms',
    breachedWindows: 3,
    k: 3,
    n: 5,
    windowSeqs: [0, 1, 2, 3, 4],
    model: { sha256: SHA, variantId: 'v-int8' },
    throttled: false,
    sentAt: T0,
  };
  await publish(breach);
  // dev-a breaks 50 ms in 3 of its last 5 windows; dev-b in 1 of 5
  const p95a = [30, 60, 70, 40, 80];
  const p95b = [30, 30, 90, 30, 30];
  for (const [i, p] of p95a.entries()) await publish(win('dev-a', i, p));
  for (const [i, p] of p95b.entries()) await publish(win('dev-b', i, p));
  await until(() => service.stats().received === 11, 'all received');
  t.equal(announced.length, 1);
  t.equal((await service.breaches({ deviceClass: 'rpi4' }))[0]?.breach.limit, 50);

  t.same(
    await service.budgetsFor('rpi4'),
    { budgets: { latencyP95Ms: 50 }, source: 'manifest' },
    "without planner budgets the limits come from the agents' breach events",
  );
  const a = await service.deviceBudgetStatus('dev-a');
  t.match(a, { breached: true, checks: [{ budget: 'latencyP95Ms', breachedWindows: 3, windows: 5, measured: 60 }] });
  t.equal((await service.deviceBudgetStatus('dev-b'))?.breached, false);
  t.equal(await service.deviceBudgetStatus('nobody'), null);
  const cls = await service.classBudgetStatus('rpi4');
  t.match(cls, {
    activeDevices: 2,
    breachingDevices: 1,
    budgetSource: 'manifest',
    summary: [{ budget: 'latencyP95Ms', devices: 2, breaching: 1, fraction: 0.5 }],
  });
  t.equal((await service.classBudgetStatus('rpi4', { k: 1 })).breachingDevices, 2, 'a stricter rule from the caller');
});

t.test('retention removes old windows but dedupe still knows the highest seq', async (t) => {
  const { service, publish } = await setup(t, { windowRetentionMs: 1_000 });
  for (let seq = 0; seq < 3; seq += 1) await publish(win('dev-r', seq, 10));
  await until(() => service.stats().received === 3, 'received');
  await service.flush();
  t.equal((await service.deviceSeries('dev-r')).length, 3);
  const removed = await service.prune();
  t.ok(removed >= 3, 'windows ending over 1 s before now are gone');
  await publish(win('dev-r', 1, 10)); // a redelivery after retention
  await until(() => service.stats().received === 4, 'redelivery received');
  t.equal(
    (await service.device('dev-r'))?.duplicates,
    1,
    'counted as a duplicate (seq below the highest, no open gap)',
  );
});

t.test(
  'each committed batch is acknowledged once per device, duplicates included; a resent breach is stored and ' +
    'announced once',
  async (t) => {
    // Batches of exactly 5: the batch deadline never comes (a held clock), so which messages share a transaction is
    // deterministic.
    const { service, brokerUrl, publish } = await setup(t, { clock: createHeldClock(() => T0 + 60_000) });
    const watch = await watchTopics(brokerUrl, allDevicesFilter('telemetry-ack'));
    t.teardown(() => watch.close());
    const announced: Breach[] = [];
    service.onBreach((b) => announced.push(b));
    const breach: Breach = {
      type: 'breach',
      v: PROTOCOL_VERSION,
      deviceId: 'dev-a',
      deviceClass: 'rpi4',
      budget: 'latencyP95Ms',
      state: 'breached',
      measured: 70,
      limit: 50,
      unit: 'ms',
      breachedWindows: 3,
      k: 3,
      n: 5,
      windowSeqs: [0, 1, 2],
      model: { sha256: SHA, variantId: 'v-int8' },
      throttled: false,
      sentAt: T0,
    };
    for (const m of [win('dev-a', 0, 40), win('dev-b', 0, 40), win('dev-a', 2, 40), breach, win('dev-a', 1, 40)])
      await publish(m);
    await watch.waitFor((m) => m.topic === deviceTopic('dev-b', 'telemetry-ack'), 10_000, "dev-b's acknowledgement");
    await watch.waitFor((m) => m.topic === deviceTopic('dev-a', 'telemetry-ack'), 10_000, "dev-a's acknowledgement");
    t.equal(watch.seen.length, 2, 'one acknowledgement per device for the batch, not one per window');
    t.match(watch.seen.find((m) => m.topic === deviceTopic('dev-a', 'telemetry-ack'))?.json(), {
      type: 'telemetry-ack',
      deviceId: 'dev-a',
      windows: [0, 1, 2],
      breaches: [{ budget: 'latencyP95Ms', seq: 2 }],
    });
    t.match(watch.seen.find((m) => m.topic === deviceTopic('dev-b', 'telemetry-ack'))?.json(), {
      deviceId: 'dev-b',
      windows: [0],
      breaches: [],
    });
    t.equal(announced.length, 1);

    // The agent missed that acknowledgement and sends the same things again.
    for (const m of [breach, win('dev-a', 1, 40), win('dev-a', 2, 40), win('dev-a', 3, 40), win('dev-a', 4, 40)])
      await publish(m);
    await watch.waitFor(
      (m) => m.topic === deviceTopic('dev-a', 'telemetry-ack') && (m.json().windows as number[]).includes(3),
      10_000,
      'the second acknowledgement',
    );
    t.match(
      watch.seen.at(-1)?.json(),
      { windows: [1, 2, 3, 4], breaches: [{ budget: 'latencyP95Ms', seq: 2 }] },
      'what was already stored is acknowledged again',
    );
    t.equal((await service.breaches({ deviceId: 'dev-a' })).length, 1, 'the resent breach is stored once');
    t.equal(announced.length, 1, 'and announced once: the control loop is not woken twice');
    t.match(service.stats(), {
      breaches: 1,
      duplicateBreaches: 1,
      duplicates: 2,
      windows: 6,
      batches: 2,
      acksPublished: 3,
    });
  },
);
