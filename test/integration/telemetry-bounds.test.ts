/**
 * One device cannot stop telemetry ingestion for everyone (issue 18, finding 1). The report:
 * `inferences` near 2^62 overflowed the class rollup's STRICT INTEGER sum, SQLite refused the
 * insert and every batch holding it rolled back, other devices' windows with it. Now every
 * figure is bounded at the edge (TELEMETRY_LIMITS), rollup counters saturate, and a message
 * the store refuses rolls back alone while the rest of its batch commits.
 */
import mqtt from 'mqtt';
import t from 'tap';
import { createBrokerClient } from '@edgefleet/server/broker/client';
import { openSqliteStore } from '@edgefleet/server';
import { createTelemetryIngest, createTelemetryService } from '@edgefleet/server/telemetry/index';
import {
  deviceTopic,
  encodeMessage,
  PROTOCOL_VERSION,
  TELEMETRY_LIMITS,
  telemetryWindowSchema,
  type Breach,
  type TelemetryAck,
  type TelemetryWindow,
} from '@edgefleet/shared';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { startTestBroker } from '../helpers/broker.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { clockAt } from '../helpers/held-clock.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Out-of-bound variants of a valid window: each is what a buggy or hostile device might send. */
function hostile(seq: number): Array<[string, TelemetryWindow]> {
  const w = telemetryWindow('dev-greedy', seq, { inferences: 5 });
  const lat = { p50: 1, p95: 1, p99: 1, max: 1, mean: 1 };
  return [
    ['inferences 2^62', { ...w, inferences: 2 ** 62 }],
    ['inferences max safe integer', { ...w, inferences: Number.MAX_SAFE_INTEGER }],
    ['errors above the bound', { ...w, errors: TELEMETRY_LIMITS.maxInferences + 1 }],
    ['p95 of 10^300 ms', { ...w, latencyMs: { ...lat, p95: 1e300 } }],
    ['1 MW', { ...w, power: { watts: 1e6, energyPerInferenceMj: 1, source: 'measured', sensor: 'rapl' } }],
    ['rss of 2^60 bytes', { ...w, memory: { rssBytes: 2 ** 60 } }],
    ['a window of 30 days', { ...w, windowStart: w.windowEnd - 30 * 86_400_000 }],
    ['outbox pending 10^15', { ...w, outbox: { droppedTotal: 0, pending: 1e15 } }],
  ];
}

t.test('out-of-bound figures are refused at the edge and a good device loses nothing', async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const store = openSqliteStore({ dataDir: t.testdir() });
  const { logger } = recordingLogger('warn');
  const client = await createBrokerClient({ url: broker.url, clientId: 'server-test', logger });
  const rejected: string[] = [];
  const service = createTelemetryService({
    telemetry: store.repos.telemetry,
    classes: store.repos.classes,
    client,
    clock: clockAt(() => 1_800_000_600_000),
    logger,
    onReject: (r) => rejected.push(`${r.deviceId}:${r.reason}`),
    batchSize: 8,
    flushIntervalMs: 20,
  });
  await service.start();
  const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'publisher' });
  t.teardown(async () => {
    await device.endAsync();
    await service.stop();
    await client.close();
    await store.close();
  });
  const kinds = hostile(0);
  for (let seq = 0; seq < 20; seq += 1) {
    const [, bad] = kinds[seq % kinds.length] as [string, TelemetryWindow];
    await device.publishAsync(deviceTopic('dev-greedy', 'telemetry'), encodeMessage({ ...bad, seq }), { qos: 1 });
    const good = telemetryWindow('dev-good', seq, { inferences: 1_000_000 });
    await device.publishAsync(deviceTopic('dev-good', 'telemetry'), encodeMessage(good), { qos: 1 });
  }
  await until(() => service.stats().received === 20 && rejected.length === 20, 'every message handled');
  const goodStored = (await service.deviceSeries('dev-good')).length;
  t.equal(goodStored, 20, 'the good device has every window stored');
  t.same(await service.deviceSeries('dev-greedy'), [], 'nothing of the greedy device is stored');
  t.same([...new Set(rejected)], ['dev-greedy:schema'], 'each greedy window rejected once, as schema');
  t.equal(service.stats().failedBatches, 0, 'no batch failed');
  const inferences = (await service.classSeries('rpi4')).reduce((n, m) => n + m.inferences, 0);
  t.equal(inferences, 20_000_000, 'the rollups hold the good device alone');
  t.comment(
    `tried: 20 windows of a good device interleaved with 20 out-of-bound ones (${kinds.length} kinds); ` +
      `found: ${goodStored}/20 good stored, ${rejected.length} rejected as schema, 0 failed batches`,
  );
});

t.test('every kind of out-of-bound figure fails the schema; the bounds admit a busy real device', async (t) => {
  for (const [what, w] of hostile(1)) t.notOk(telemetryWindowSchema.safeParse(w).success, `${what}: refused`);
  const busy = telemetryWindow('dev-busy', 1, {
    inferences: 50_000,
    latencyMs: { p50: 2, p95: 9, p99: 30, max: 2_000, mean: 3 },
    power: { watts: 60, energyPerInferenceMj: 12, source: 'measured', sensor: 'rapl' },
    memory: { rssBytes: 64 * 2 ** 30, sessionBytes: 2 ** 31 },
  });
  t.ok(telemetryWindowSchema.safeParse(busy).success, 'a Jetson-class window at 5,000 inferences/s passes');
});

t.test('past the schema: rollups saturate and a refused message rolls back alone', async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const { logger } = recordingLogger('warn');
  const rejected: string[] = [];
  const acks: TelemetryAck[] = [];
  const ingest = createTelemetryIngest({
    telemetry: store.repos.telemetry,
    // A held clock: the batch is cut by flush().
    clock: createFakeClock(),
    logger,
    onReject: (r) => rejected.push(`${r.deviceId}:${r.reason}`),
    onCommitted: (a) => acks.push(...a),
  });
  // What a store written before the bounds (or a future bug) could be handed: the schema is bypassed.
  const huge = (seq: number) => telemetryWindow('dev-huge', seq, { inferences: 2 ** 62 });
  ingest.accept(huge(0));
  ingest.accept(huge(1));
  ingest.accept({ ...telemetryWindow('dev-nan', 0), inferences: Number.NaN }); // NOT NULL refuses it
  const odd: Breach = {
    type: 'breach',
    v: PROTOCOL_VERSION,
    deviceId: 'dev-odd',
    deviceClass: 'rpi4',
    budget: 'latencyP95Ms',
    state: 'sideways' as Breach['state'], // the table's CHECK refuses it
    measured: 80,
    limit: 50,
    unit: 'ms',
    breachedWindows: 3,
    k: 3,
    n: 5,
    windowSeqs: [3],
    model: null,
    throttled: false,
    sentAt: 1,
  };
  ingest.accept(odd);
  ingest.accept(telemetryWindow('dev-ok', 0, { inferences: 7 }));
  t.same([ingest.buffered(), ingest.unstored()], [5, 0], 'five in the open batch, none cut yet');
  const flushed = ingest.flush();
  t.same([ingest.buffered(), ingest.unstored()], [0, 5], 'cut: waiting for the store');
  const outcome = await flushed;
  t.equal(ingest.unstored(), 0, 'committed');
  t.equal(outcome.windows, 3, 'both huge windows and the good one are stored');
  t.equal(outcome.refused.length, 2, 'the NaN window and the odd breach are refused');
  t.same(rejected.sort(), ['dev-nan:store-refused', 'dev-odd:store-refused'], 'each counted once, by reason');
  const rollup = await store.repos.telemetry.rollups('rpi4', {});
  t.equal(
    rollup.reduce((n, m) => n + m.inferences, 0),
    Number.MAX_SAFE_INTEGER,
    'the minute rollup saturates at 2^53-1 instead of failing',
  );
  t.same(
    (await store.repos.telemetry.windows('dev-nan', {})).length +
      (await store.repos.telemetry.windows('dev-ok', {})).length,
    1,
    'the refused window left no row; the good one has its row',
  );
  t.ok(
    acks.some((a) => a.deviceId === 'dev-nan' && a.windows.includes(0)),
    'a refused window is acknowledged (a resend would be refused again)',
  );
  t.equal(ingest.stats().failedBatches, 0);
  t.equal(ingest.stats().refused, 2);
  t.comment(
    `tried: 5 messages past the schema in one batch; found: ${outcome.windows} windows stored, ` +
      `${outcome.refused.length} refused alone, rollup inferences ${rollup[0]?.inferences}`,
  );
});
