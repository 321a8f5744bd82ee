/**
 * Telemetry ingestion on Postgres (migrations 30–32), by the rules of ../sqlite/telemetry-ingest.ts:
 * dedupe by (device, epoch, seq), gaps, minute rollups whose counters saturate at 2^53 - 1,
 * breach identity, each epoch of a device in its own seq span [EF-PROTO 8.1], and a message the
 * store refuses rolled back alone while the rest of its batch commits (issue 18, finding 1).
 *
 * Replicas: two may hold batches of the same device at once (a shared subscription spreads one
 * device's messages over them), and storing a window reads the device's counters before it
 * writes them; so a batch first takes a transaction-scoped advisory lock per device it
 * touches, in sorted order (no deadlock between two batches), and the second waits.
 *
 * Savepoints: each message runs in a SAVEPOINT of the batch's transaction. A savepoint that
 * writes is a subtransaction with an xid of its own, and past 64 of them in one transaction
 * Postgres's snapshots overflow to pg_subtrans, which slows every session's reads; a batch
 * (200 messages by default) therefore runs first without them, and only when the store refuses
 * a message is it rolled back and run again in a new transaction with a savepoint per message.
 */
import { asError, breachIdentity, errnoCode, type Breach, type TelemetryWindow } from '@edgefleet/shared';
import { EPOCH_SPAN, ROLLUP_COUNTER_MAX } from '../sqlite/telemetry-ingest.js';
import type { RawDeviceCounters } from '../sqlite/telemetry.js';
import type { BatchItem, BatchOutcome, RefusedItem, SeqRestart } from '../telemetry.js';
import type { PgDb, Sql } from './db.js';
import { ingestBatched } from './telemetry-batch.js';

const MINUTE_MS = 60_000;
/** Namespace of the per-device ingestion locks (the first key of pg_advisory_xact_lock(int, int)). */
const INGEST_LOCK_SPACE = 0x45_46_54; // "EFT"
const SAFE = ROLLUP_COUNTER_MAX;

/**
 * SQLSTATE classes that mean "this message can never be stored": 22 (data exception: a value
 * out of range, NaN for a BIGINT, a NUL in text) and 23 (integrity: NOT NULL, CHECK, UNIQUE).
 * Anything else (disk full, connection lost, deadlock) is about the store and fails the batch.
 */
export function pgRefusesRow(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && /^2[23][0-9A-Z]{3}$/.test(code);
}

export interface Counts {
  windows: number;
  duplicates: number;
  gapsOpened: number;
  duplicateBreaches: number;
  restarts: SeqRestart[];
}

export const newCounts = (): Counts => ({
  windows: 0,
  duplicates: 0,
  gapsOpened: 0,
  duplicateBreaches: 0,
  restarts: [],
});

const INSERT_WINDOW = `INSERT INTO telemetry_windows VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
  $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) ON CONFLICT (device_id, seq) DO NOTHING`;
const UPSERT_DEVICE = `INSERT INTO telemetry_devices VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (device_id) DO UPDATE SET class = excluded.class, max_seq = excluded.max_seq,
    windows = excluded.windows, duplicates = excluded.duplicates, dropped_total = excluded.dropped_total,
    last_window_end = excluded.last_window_end, last_received_at = excluded.last_received_at`;
const FILL_GAP = `UPDATE telemetry_gaps SET filled = filled + 1,
    closed_at = CASE WHEN filled + 1 >= to_seq - from_seq + 1 THEN $3 ELSE closed_at END
  WHERE device_id = $1 AND closed_at IS NULL AND $2 BETWEEN from_seq AND to_seq`;
const t = 'telemetry_class_minutes';
// Counters saturate (LEAST): `excluded` is the row as proposed, already at most SAFE, so no sum passes 2^63.
// One window here (its row counts windows = 1), a batch's sums in ./telemetry-batch.ts: the same merge.
export const ROLLUP_ON_CONFLICT = `ON CONFLICT (class, minute) DO UPDATE SET
    windows = LEAST(${t}.windows + excluded.windows, ${SAFE}),
    inferences = LEAST(${t}.inferences + excluded.inferences, ${SAFE}),
    p95_sum = ${t}.p95_sum + excluded.p95_sum, p95_n = ${t}.p95_n + excluded.p95_n,
    p95_max = GREATEST(${t}.p95_max, excluded.p95_max),
    power_sum = ${t}.power_sum + excluded.power_sum, power_n = ${t}.power_n + excluded.power_n,
    energy_sum = ${t}.energy_sum + excluded.energy_sum, energy_n = ${t}.energy_n + excluded.energy_n,
    accuracy_sum = ${t}.accuracy_sum + excluded.accuracy_sum, accuracy_n = ${t}.accuracy_n + excluded.accuracy_n,
    confidence_sum = ${t}.confidence_sum + excluded.confidence_sum,
    confidence_n = ${t}.confidence_n + excluded.confidence_n,
    throttled_windows = LEAST(${t}.throttled_windows + excluded.throttled_windows, ${SAFE})`;
const UPSERT_ROLLUP = `INSERT INTO ${t} VALUES ($1, $2, 1, LEAST($3::bigint, ${SAFE}), $4, $5, $6, $7, $8, $9, $10,
    $11, $12, $13, $14, $15)
  ${ROLLUP_ON_CONFLICT}`;
const INSERT_BREACH = `INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit,
    model_sha, throttled, sent_at, received_at, doc, window_seq)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (device_id, budget, window_seq) DO NOTHING`;

export function windowArgs(w: TelemetryWindow, seq: number, receivedAt: number): unknown[] {
  return [
    w.deviceId,
    seq,
    w.deviceClass,
    w.windowStart,
    w.windowEnd,
    receivedAt,
    w.model?.sha256 ?? null,
    w.model?.variantId ?? null,
    w.inferences,
    w.errors,
    w.latencyMs?.p50 ?? null,
    w.latencyMs?.p95 ?? null,
    w.latencyMs?.p99 ?? null,
    w.latencyMs?.max ?? null,
    w.latencyMs?.mean ?? null,
    w.dutyCycle,
    w.power?.watts ?? null,
    w.power?.energyPerInferenceMj ?? null,
    w.power?.source ?? null,
    w.accuracy.goldenAccuracy ?? null,
    w.accuracy.meanTop1Confidence ?? null,
    w.memory.rssBytes,
    w.thermal.cpuTempC ?? null,
    w.thermal.throttled === undefined ? null : Number(w.thermal.throttled),
    w.outbox.droppedTotal,
    JSON.stringify(w),
  ];
}

export function rollupArgs(w: TelemetryWindow): unknown[] {
  const p95 = w.latencyMs?.p95;
  return [
    w.deviceClass,
    Math.floor(w.windowEnd / MINUTE_MS) * MINUTE_MS,
    w.inferences,
    p95 ?? 0,
    p95 === undefined ? 0 : 1,
    p95 ?? null,
    w.power?.watts ?? 0,
    w.power ? 1 : 0,
    w.power?.energyPerInferenceMj ?? 0,
    w.power?.energyPerInferenceMj == null ? 0 : 1,
    w.accuracy.goldenAccuracy ?? 0,
    w.accuracy.goldenAccuracy === undefined ? 0 : 1,
    w.accuracy.meanTop1Confidence ?? 0,
    w.accuracy.meanTop1Confidence === undefined ? 0 : 1,
    w.thermal.throttled === true ? 1 : 0,
  ];
}

/**
 * Where a device's epoch starts in the stored seq space (idx * 2^32), registering the epoch on
 * first sight; a device with windows from before epochs owns index 0 as epoch ''. `restarted`
 * is true when this epoch follows another (the device's counter restarted).
 */
async function epochBase(
  sql: Sql,
  deviceId: string,
  epoch: string,
  receivedAt: number,
): Promise<{ base: number; restarted: boolean }> {
  const known = await sql.one<{ idx: number }>('SELECT idx FROM telemetry_epochs WHERE device_id = $1 AND epoch = $2', [
    deviceId,
    epoch,
  ]);
  if (known) return { base: known.idx * EPOCH_SPAN, restarted: false };
  const insert = 'INSERT INTO telemetry_epochs (device_id, epoch, idx, first_seen) VALUES ($1, $2, $3, $4)';
  let last =
    (
      await sql.one<{ idx: number | null }>('SELECT MAX(idx) AS idx FROM telemetry_epochs WHERE device_id = $1', [
        deviceId,
      ])
    )?.idx ?? null;
  if (last === null && epoch !== '') {
    const seen = await sql.one('SELECT 1 FROM telemetry_devices WHERE device_id = $1', [deviceId]);
    if (seen) {
      await sql.run(insert, [deviceId, '', 0, receivedAt]);
      last = 0;
    }
  }
  const idx = last === null ? 0 : last + 1;
  await sql.run(insert, [deviceId, epoch, idx, receivedAt]);
  return { base: idx * EPOCH_SPAN, restarted: last !== null };
}

async function storeWindow(sql: Sql, w: TelemetryWindow, receivedAt: number, counts: Counts): Promise<void> {
  const { base, restarted } = await epochBase(sql, w.deviceId, w.epoch ?? '', receivedAt);
  const seq = base + w.seq;
  if (restarted) counts.restarts.push({ deviceId: w.deviceId, epoch: w.epoch ?? '', firstSeq: w.seq });
  const before = await sql.one<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE device_id = $1', [w.deviceId]);
  const inserted = (await sql.run(INSERT_WINDOW, windowArgs(w, seq, receivedAt))) > 0;
  // Below the highest seq and not inside an open gap: a redelivery whose row retention already removed.
  const late = before !== null && seq <= before.max_seq;
  const filled = inserted && late ? (await sql.run(FILL_GAP, [w.deviceId, seq, receivedAt])) > 0 : false;
  if (!inserted || (late && !filled)) {
    counts.duplicates += 1;
    if (before)
      await sql.run(UPSERT_DEVICE, [
        w.deviceId,
        w.deviceClass,
        before.max_seq,
        before.windows,
        before.duplicates + 1,
        before.dropped_total,
        before.last_window_end,
        receivedAt,
      ]);
    return;
  }
  counts.windows += 1;
  // A new epoch's first window continues from the start of its span, not the old maximum.
  const expected = restarted ? base : (before?.max_seq ?? -1) + 1;
  if (before && seq > expected) {
    await sql.run('INSERT INTO telemetry_gaps (device_id, from_seq, to_seq, detected_at) VALUES ($1, $2, $3, $4)', [
      w.deviceId,
      expected,
      seq - 1,
      receivedAt,
    ]);
    counts.gapsOpened += 1;
  }
  await sql.run(UPSERT_DEVICE, [
    w.deviceId,
    w.deviceClass,
    Math.max(seq, before?.max_seq ?? -1),
    (before?.windows ?? 0) + 1,
    before?.duplicates ?? 0,
    Math.max(w.outbox.droppedTotal, before?.dropped_total ?? 0),
    Math.max(w.windowEnd, before?.last_window_end ?? 0),
    receivedAt,
  ]);
  await sql.run(UPSERT_ROLLUP, rollupArgs(w));
}

/** Stores one breach event; true when it is new (not a resend). */
async function storeBreach(sql: Sql, b: Breach, receivedAt: number): Promise<boolean> {
  const { base } = await epochBase(sql, b.deviceId, b.epoch ?? '', receivedAt);
  return (
    (await sql.run(INSERT_BREACH, [
      b.deviceId,
      b.deviceClass,
      b.budget,
      b.state,
      b.measured,
      b.limit,
      b.unit,
      b.model?.sha256 ?? null,
      Number(b.throttled),
      b.sentAt,
      receivedAt,
      JSON.stringify(b),
      base + breachIdentity(b).seq,
    ])) > 0
  );
}

/** One message; its counts are added only once it went through, so a refused one leaves no trace. */
export async function storeItem(sql: Sql, item: BatchItem, counts: Counts, storedBreaches: Breach[]): Promise<void> {
  if (item.kind === 'breach') {
    if (await storeBreach(sql, item.message, item.receivedAt)) storedBreaches.push(item.message);
    else counts.duplicateBreaches += 1;
    return;
  }
  const own = newCounts();
  await storeWindow(sql, item.message, item.receivedAt, own);
  counts.windows += own.windows;
  counts.duplicates += own.duplicates;
  counts.gapsOpened += own.gapsOpened;
  counts.restarts.push(...own.restarts);
}

/** Takes the batch's per-device locks in one statement, in sorted order (unnest keeps the array's order). */
async function lockDevices(sql: Sql, items: readonly BatchItem[]): Promise<void> {
  const devices = [...new Set(items.map((i) => i.message.deviceId))].sort();
  await sql.run('SELECT pg_advisory_xact_lock($1, hashtext(id)) FROM unnest($2::text[]) AS u(id)', [
    INGEST_LOCK_SPACE,
    devices,
  ]);
}

async function ingest(sql: Sql, items: readonly BatchItem[], savepoints: boolean): Promise<BatchOutcome> {
  await lockDevices(sql, items);
  if (!savepoints) return ingestBatched(sql, items);
  const counts = newCounts();
  const storedBreaches: Breach[] = [];
  const refused: RefusedItem[] = [];
  for (const item of items) {
    await sql.run('SAVEPOINT item');
    try {
      await storeItem(sql, item, counts, storedBreaches);
    } catch (err: unknown) {
      // One message never fails the batch; the store failing does.
      if (!pgRefusesRow(err)) throw err;
      await sql.run('ROLLBACK TO SAVEPOINT item');
      refused.push({ item, detail: `${errnoCode(err)}: ${asError(err).message}` });
    }
    await sql.run('RELEASE SAVEPOINT item');
  }
  return { ...counts, breaches: storedBreaches.length, storedBreaches, refused };
}

/** The telemetry repository's `ingestBatch` on Postgres. */
export function createPgTelemetryIngest(db: PgDb): (items: readonly BatchItem[]) => Promise<BatchOutcome> {
  return async (items) => {
    try {
      return await db.tx((sql) => ingest(sql, items, false));
    } catch (err: unknown) {
      if (!pgRefusesRow(err)) throw err;
      // Nothing of the first attempt stands (it rolled back whole): again, each message on its own.
      return db.tx((sql) => ingest(sql, items, true));
    }
  };
}
