/**
 * The telemetry tables on SQLite (migrations 30–32). Ingestion lives in telemetry-ingest.ts (a
 * transaction per batch, a savepoint per message). Reads return plain rows; server/src/telemetry
 * turns them into series and budget status.
 */
import { breachSchema } from '@edgefleet/shared';
import { decodeJson } from '../decode.js';
import type {
  BreachRow,
  DeviceTelemetryRow,
  GapRow,
  MinuteRollup,
  TelemetryRepository,
  WindowRow,
} from '../telemetry.js';
import type { Db } from './open.js';
import { createSqliteTelemetryIngest } from './telemetry-ingest.js';

export interface RawWindow {
  device_id: string;
  seq: number;
  class: string;
  window_start: number;
  window_end: number;
  received_at: number;
  model_sha: string | null;
  variant_id: string | null;
  inferences: number;
  errors: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  mean_ms: number | null;
  duty_cycle: number;
  power_w: number | null;
  energy_mj: number | null;
  power_source: string | null;
  golden_accuracy: number | null;
  confidence: number | null;
  rss_bytes: number;
  cpu_temp_c: number | null;
  throttled: number | null;
  dropped_total: number;
}

export function toWindowRow(r: RawWindow): WindowRow {
  return {
    deviceId: r.device_id,
    seq: r.seq,
    deviceClass: r.class,
    windowStart: r.window_start,
    windowEnd: r.window_end,
    receivedAt: r.received_at,
    modelSha: r.model_sha,
    variantId: r.variant_id,
    inferences: r.inferences,
    errors: r.errors,
    p50Ms: r.p50_ms,
    p95Ms: r.p95_ms,
    p99Ms: r.p99_ms,
    maxMs: r.max_ms,
    meanMs: r.mean_ms,
    dutyCycle: r.duty_cycle,
    powerW: r.power_w,
    energyMj: r.energy_mj,
    powerSource: r.power_source === 'measured' || r.power_source === 'modelled' ? r.power_source : null,
    goldenAccuracy: r.golden_accuracy,
    confidence: r.confidence,
    rssBytes: r.rss_bytes,
    cpuTempC: r.cpu_temp_c,
    throttled: r.throttled === null ? null : r.throttled === 1,
    droppedTotal: r.dropped_total,
  };
}

const mean = (sum: number, n: number): number | null => (n > 0 ? sum / n : null);

export function createSqliteTelemetryRepository(db: Db): TelemetryRepository {
  const ingest = createSqliteTelemetryIngest(db);
  // Prepared on first use: a store opened with fewer migrations (a migration's own test) must still open.
  let prepared: ReturnType<Db['prepare']> | null = null;
  const getDevice = (): ReturnType<Db['prepare']> =>
    (prepared ??= db.prepare('SELECT * FROM telemetry_devices WHERE device_id = ?'));
  const deviceCounters = (deviceId: string) => getDevice().get(deviceId) as RawDeviceCounters | undefined;

  const q = {
    windows: db.prepare(`SELECT * FROM telemetry_windows WHERE device_id = ? AND window_end >= ? AND window_end <= ?
      ORDER BY seq LIMIT ?`),
    recentByClass: db.prepare(
      'SELECT * FROM telemetry_windows WHERE class = ? AND window_end >= ? ORDER BY device_id, seq',
    ),
    lastWindows: db.prepare(
      'SELECT * FROM (SELECT * FROM telemetry_windows WHERE device_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
    ),
    rollups: db.prepare(
      'SELECT * FROM telemetry_class_minutes WHERE class = ? AND minute >= ? AND minute <= ? ORDER BY minute',
    ),
    gapsAll: db.prepare('SELECT * FROM telemetry_gaps ORDER BY id'),
    gapsOf: db.prepare('SELECT * FROM telemetry_gaps WHERE device_id = ? ORDER BY id'),
    devicesOfClass: db.prepare('SELECT * FROM telemetry_devices WHERE class = ? ORDER BY device_id'),
    breaches: db.prepare(`SELECT id, received_at, doc FROM telemetry_breaches
      WHERE (@class IS NULL OR class = @class) AND (@device IS NULL OR device_id = @device) AND received_at >= @since
      ORDER BY id DESC LIMIT @limit`),
    pruneWindows: db.prepare('DELETE FROM telemetry_windows WHERE window_end < ?'),
    pruneRollups: db.prepare('DELETE FROM telemetry_class_minutes WHERE minute < ?'),
  };
  const windowsOf = (stmt: (typeof q)['windows'], ...params: unknown[]): WindowRow[] =>
    (stmt.all(...params) as RawWindow[]).map(toWindowRow);

  return Object.freeze({
    ingestBatch: async (items) => ingest(items),
    windows: async (deviceId, range) =>
      windowsOf(q.windows, deviceId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER, range.limit ?? 10_000),
    recentByClass: async (deviceClass, since) => windowsOf(q.recentByClass, deviceClass, since),
    lastWindows: async (deviceId, limit) => windowsOf(q.lastWindows, deviceId, limit),
    rollups: async (deviceClass, range) =>
      (q.rollups.all(deviceClass, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER) as RawRollup[]).map(toRollup),
    gaps: async (deviceId) =>
      ((deviceId === undefined ? q.gapsAll.all() : q.gapsOf.all(deviceId)) as RawGap[]).map(toGap),
    device: async (deviceId) => {
      const r = deviceCounters(deviceId);
      return r ? deviceRow(r) : null;
    },
    devicesOfClass: async (deviceClass) => (q.devicesOfClass.all(deviceClass) as RawDeviceCounters[]).map(deviceRow),
    breaches: async (filter) =>
      (
        q.breaches.all({
          class: filter.deviceClass ?? null,
          device: filter.deviceId ?? null,
          since: filter.since ?? 0,
          limit: filter.limit ?? 1000,
        }) as Array<{ id: number; received_at: number; doc: string }>
      )
        .reverse()
        .map(
          (r): BreachRow => ({
            id: r.id,
            receivedAt: r.received_at,
            breach: decodeJson(breachSchema, r.doc, { table: 'telemetry_breaches', column: 'doc', key: r.id }),
          }),
        ),
    prune: async (windowsBefore, rollupsBefore) =>
      q.pruneWindows.run(windowsBefore).changes + q.pruneRollups.run(rollupsBefore).changes,
  } satisfies TelemetryRepository);
}

export interface RawDeviceCounters {
  device_id: string;
  class: string;
  max_seq: number;
  windows: number;
  duplicates: number;
  dropped_total: number;
  last_window_end: number;
  last_received_at: number;
}
export const deviceRow = (r: RawDeviceCounters): DeviceTelemetryRow => ({
  deviceId: r.device_id,
  deviceClass: r.class,
  maxSeq: r.max_seq,
  windows: r.windows,
  duplicates: r.duplicates,
  droppedTotal: r.dropped_total,
  lastWindowEnd: r.last_window_end,
  lastReceivedAt: r.last_received_at,
});

export interface RawGap {
  device_id: string;
  from_seq: number;
  to_seq: number;
  filled: number;
  detected_at: number;
  closed_at: number | null;
}
export const toGap = (r: RawGap): GapRow => ({
  deviceId: r.device_id,
  fromSeq: r.from_seq,
  toSeq: r.to_seq,
  filled: r.filled,
  detectedAt: r.detected_at,
  closedAt: r.closed_at,
});

export interface RawRollup {
  class: string;
  minute: number;
  windows: number;
  inferences: number;
  p95_sum: number;
  p95_n: number;
  p95_max: number | null;
  power_sum: number;
  power_n: number;
  energy_sum: number;
  energy_n: number;
  accuracy_sum: number;
  accuracy_n: number;
  confidence_sum: number;
  confidence_n: number;
  throttled_windows: number;
}
export const toRollup = (r: RawRollup): MinuteRollup => ({
  deviceClass: r.class,
  minute: r.minute,
  windows: r.windows,
  inferences: r.inferences,
  meanP95Ms: mean(r.p95_sum, r.p95_n),
  maxP95Ms: r.p95_max,
  meanPowerW: mean(r.power_sum, r.power_n),
  meanEnergyMj: mean(r.energy_sum, r.energy_n),
  meanGoldenAccuracy: mean(r.accuracy_sum, r.accuracy_n),
  meanConfidence: mean(r.confidence_sum, r.confidence_n),
  throttledWindows: r.throttled_windows,
});
