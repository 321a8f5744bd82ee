/**
 * The telemetry tables on Postgres (migrations 30–31): the same rules as on SQLite (dedupe by
 * (device, seq), gaps, minute rollups, breach identity), with one addition replicas need. Two
 * replicas may hold batches of the same device at once (a shared subscription spreads one
 * device's messages over them), and storing a window reads the device's counters before it
 * writes them; so a batch first takes a transaction-scoped advisory lock per device it
 * touches, in sorted order (no deadlock between two batches), and the second waits.
 */
import { breachIdentity, breachSchema, type Breach, type TelemetryWindow } from '@edgefleet/shared';
import { decodeJson } from '../decode.js';
import {
  deviceRow,
  type RawDeviceCounters,
  type RawGap,
  type RawRollup,
  type RawWindow,
  toGap,
  toRollup,
  toWindowRow,
} from '../sqlite/telemetry.js';
import type { BatchItem, BatchOutcome, BreachRow, TelemetryRepository } from '../telemetry.js';
import type { PgDb, Sql } from './db.js';

const MINUTE_MS = 60_000;
/** Namespace of the per-device ingestion locks (the first key of pg_advisory_xact_lock(int, int)). */
const INGEST_LOCK_SPACE = 0x45_46_54; // "EFT"

type Counts = { windows: number; duplicates: number; gapsOpened: number };

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
const UPSERT_ROLLUP = `INSERT INTO ${t} VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
  ON CONFLICT (class, minute) DO UPDATE SET windows = ${t}.windows + 1, inferences = ${t}.inferences + excluded.inferences,
    p95_sum = ${t}.p95_sum + excluded.p95_sum, p95_n = ${t}.p95_n + excluded.p95_n,
    p95_max = GREATEST(${t}.p95_max, excluded.p95_max),
    power_sum = ${t}.power_sum + excluded.power_sum, power_n = ${t}.power_n + excluded.power_n,
    energy_sum = ${t}.energy_sum + excluded.energy_sum, energy_n = ${t}.energy_n + excluded.energy_n,
    accuracy_sum = ${t}.accuracy_sum + excluded.accuracy_sum, accuracy_n = ${t}.accuracy_n + excluded.accuracy_n,
    confidence_sum = ${t}.confidence_sum + excluded.confidence_sum,
    confidence_n = ${t}.confidence_n + excluded.confidence_n,
    throttled_windows = ${t}.throttled_windows + excluded.throttled_windows`;
const INSERT_BREACH = `INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit,
    model_sha, throttled, sent_at, received_at, doc, window_seq)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (device_id, budget, window_seq) DO NOTHING`;

function windowArgs(w: TelemetryWindow, receivedAt: number): unknown[] {
  return [
    w.deviceId,
    w.seq,
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

function rollupArgs(w: TelemetryWindow): unknown[] {
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

async function storeWindow(sql: Sql, w: TelemetryWindow, receivedAt: number, outcome: Counts): Promise<void> {
  const before = await sql.one<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE device_id = $1', [w.deviceId]);
  const inserted = (await sql.run(INSERT_WINDOW, windowArgs(w, receivedAt))) > 0;
  // Below the highest seq and not inside an open gap: a redelivery whose row retention already removed.
  const late = before !== null && w.seq <= before.max_seq;
  const filled = inserted && late ? (await sql.run(FILL_GAP, [w.deviceId, w.seq, receivedAt])) > 0 : false;
  if (!inserted || (late && !filled)) {
    outcome.duplicates += 1;
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
  outcome.windows += 1;
  if (before && w.seq > before.max_seq + 1) {
    await sql.run('INSERT INTO telemetry_gaps (device_id, from_seq, to_seq, detected_at) VALUES ($1, $2, $3, $4)', [
      w.deviceId,
      before.max_seq + 1,
      w.seq - 1,
      receivedAt,
    ]);
    outcome.gapsOpened += 1;
  }
  await sql.run(UPSERT_DEVICE, [
    w.deviceId,
    w.deviceClass,
    Math.max(w.seq, before?.max_seq ?? -1),
    (before?.windows ?? 0) + 1,
    before?.duplicates ?? 0,
    Math.max(w.outbox.droppedTotal, before?.dropped_total ?? 0),
    Math.max(w.windowEnd, before?.last_window_end ?? 0),
    receivedAt,
  ]);
  await sql.run(UPSERT_ROLLUP, rollupArgs(w));
}

async function storeBreach(sql: Sql, b: Breach, receivedAt: number): Promise<boolean> {
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
      breachIdentity(b).seq,
    ])) > 0
  );
}

async function ingest(sql: Sql, items: readonly BatchItem[]): Promise<BatchOutcome> {
  const devices = [...new Set(items.map((i) => i.message.deviceId))].sort();
  for (const id of devices) await sql.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', [INGEST_LOCK_SPACE, id]);
  const outcome = { windows: 0, duplicates: 0, gapsOpened: 0, breaches: 0, duplicateBreaches: 0 };
  const storedBreaches: Breach[] = [];
  for (const item of items) {
    if (item.kind === 'window') await storeWindow(sql, item.message, item.receivedAt, outcome);
    else if (await storeBreach(sql, item.message, item.receivedAt)) storedBreaches.push(item.message);
    else outcome.duplicateBreaches += 1;
  }
  return { ...outcome, breaches: storedBreaches.length, storedBreaches };
}

export function createPgTelemetryRepository(db: PgDb): TelemetryRepository {
  const windows = async (text: string, params: unknown[]) => (await db.rows<RawWindow>(text, params)).map(toWindowRow);
  return Object.freeze({
    ingestBatch: (items) => db.tx((sql) => ingest(sql, items)),
    windows: (deviceId, range) =>
      windows(
        `SELECT * FROM telemetry_windows WHERE device_id = $1 AND window_end >= $2 AND window_end <= $3
        ORDER BY seq LIMIT $4`,
        [deviceId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER, range.limit ?? 10_000],
      ),
    recentByClass: (deviceClass, since) =>
      windows('SELECT * FROM telemetry_windows WHERE class = $1 AND window_end >= $2 ORDER BY device_id, seq', [
        deviceClass,
        since,
      ]),
    lastWindows: (deviceId, limit) =>
      windows(
        `SELECT * FROM (SELECT * FROM telemetry_windows WHERE device_id = $1 ORDER BY seq DESC LIMIT $2) newest
        ORDER BY seq`,
        [deviceId, limit],
      ),
    rollups: async (deviceClass, range) =>
      (
        await db.rows<RawRollup>(
          `SELECT * FROM telemetry_class_minutes WHERE class = $1 AND minute >= $2 AND minute <= $3 ORDER BY minute`,
          [deviceClass, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER],
        )
      ).map(toRollup),
    gaps: async (deviceId) =>
      (deviceId === undefined
        ? await db.rows<RawGap>('SELECT * FROM telemetry_gaps ORDER BY id')
        : await db.rows<RawGap>('SELECT * FROM telemetry_gaps WHERE device_id = $1 ORDER BY id', [deviceId])
      ).map(toGap),
    device: async (deviceId) => {
      const r = await db.one<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE device_id = $1', [deviceId]);
      return r ? deviceRow(r) : null;
    },
    devicesOfClass: async (deviceClass) =>
      (
        await db.rows<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE class = $1 ORDER BY device_id', [
          deviceClass,
        ])
      ).map(deviceRow),
    breaches: async (filter) =>
      (
        await db.rows<{ id: number; received_at: number; doc: string }>(
          `SELECT id, received_at, doc FROM telemetry_breaches
          WHERE ($1::text IS NULL OR class = $1) AND ($2::text IS NULL OR device_id = $2) AND received_at >= $3
          ORDER BY id DESC LIMIT $4`,
          [filter.deviceClass ?? null, filter.deviceId ?? null, filter.since ?? 0, filter.limit ?? 1000],
        )
      )
        .reverse()
        .map(
          (r): BreachRow => ({
            id: r.id,
            receivedAt: r.received_at,
            breach: decodeJson(breachSchema, r.doc, { table: 'telemetry_breaches', column: 'doc', key: r.id }),
          }),
        ),
    prune: (windowsBefore, rollupsBefore) =>
      db.tx(
        async (sql) =>
          (await sql.run('DELETE FROM telemetry_windows WHERE window_end < $1', [windowsBefore])) +
          (await sql.run('DELETE FROM telemetry_class_minutes WHERE minute < $1', [rollupsBefore])),
      ),
  } satisfies TelemetryRepository);
}
