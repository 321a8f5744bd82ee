/**
 * The telemetry tables on SQLite (migrations 30–31). A whole batch goes through `ingestBatch`
 * in one transaction. Reads return plain rows; server/src/telemetry turns them into series and
 * budget status.
 */
import { breachIdentity, breachSchema, type Breach, type TelemetryWindow } from '@edgefleet/shared';
import { decodeJson } from '../decode.js';
import type {
  BatchItem,
  BatchOutcome,
  BreachRow,
  DeviceTelemetryRow,
  GapRow,
  MinuteRollup,
  TelemetryRepository,
  WindowRow,
} from '../telemetry.js';
import type { Db } from './open.js';

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
const MINUTE_MS = 60_000;

export function createSqliteTelemetryRepository(db: Db): TelemetryRepository {
  // Prepared on first use: a store opened with fewer migrations (a migration's own test) must still open.
  let prepared: ReturnType<typeof prepare> | null = null;
  const st = (): ReturnType<typeof prepare> => (prepared ??= prepare());
  function prepare() {
    const insertWindow = db.prepare(`INSERT OR IGNORE INTO telemetry_windows VALUES (
    @device_id, @seq, @class, @window_start, @window_end, @received_at, @model_sha, @variant_id, @inferences, @errors,
    @p50_ms, @p95_ms, @p99_ms, @max_ms, @mean_ms, @duty_cycle, @power_w, @energy_mj, @power_source,
    @golden_accuracy, @confidence, @rss_bytes, @cpu_temp_c, @throttled, @dropped_total, @doc)`);
    const getDevice = db.prepare('SELECT * FROM telemetry_devices WHERE device_id = ?');
    const upsertDevice =
      db.prepare(`INSERT INTO telemetry_devices VALUES (@device_id, @class, @max_seq, @windows, @duplicates, @dropped_total, @last_window_end, @last_received_at)
    ON CONFLICT(device_id) DO UPDATE SET class = excluded.class, max_seq = excluded.max_seq, windows = excluded.windows, duplicates = excluded.duplicates,
      dropped_total = excluded.dropped_total, last_window_end = excluded.last_window_end, last_received_at = excluded.last_received_at`);
    const insertGap = db.prepare(
      'INSERT INTO telemetry_gaps (device_id, from_seq, to_seq, detected_at) VALUES (?, ?, ?, ?)',
    );
    const fillGap = db.prepare(`UPDATE telemetry_gaps SET filled = filled + 1,
    closed_at = CASE WHEN filled + 1 >= to_seq - from_seq + 1 THEN @now ELSE closed_at END
    WHERE device_id = @device_id AND closed_at IS NULL AND @seq BETWEEN from_seq AND to_seq`);
    const upsertRollup =
      db.prepare(`INSERT INTO telemetry_class_minutes VALUES (@class, @minute, 1, @inferences, @p95_sum, @p95_n, @p95_max,
      @power_sum, @power_n, @energy_sum, @energy_n, @accuracy_sum, @accuracy_n, @confidence_sum, @confidence_n, @throttled)
    ON CONFLICT(class, minute) DO UPDATE SET windows = windows + 1, inferences = inferences + excluded.inferences,
      p95_sum = p95_sum + excluded.p95_sum, p95_n = p95_n + excluded.p95_n,
      p95_max = MAX(COALESCE(p95_max, excluded.p95_max), COALESCE(excluded.p95_max, p95_max)),
      power_sum = power_sum + excluded.power_sum, power_n = power_n + excluded.power_n,
      energy_sum = energy_sum + excluded.energy_sum, energy_n = energy_n + excluded.energy_n,
      accuracy_sum = accuracy_sum + excluded.accuracy_sum, accuracy_n = accuracy_n + excluded.accuracy_n,
      confidence_sum = confidence_sum + excluded.confidence_sum, confidence_n = confidence_n + excluded.confidence_n,
      throttled_windows = throttled_windows + excluded.throttled_windows`);
    // Only the identity conflict is ignored (a resent event, migration 31); any other violation still fails the batch.
    const insertBreach =
      db.prepare(`INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit, model_sha, throttled, sent_at, received_at, doc, window_seq)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, budget, window_seq) DO NOTHING`);

    return { insertWindow, getDevice, upsertDevice, insertGap, fillGap, upsertRollup, insertBreach };
  }

  function storeWindow(
    w: TelemetryWindow,
    receivedAt: number,
    outcome: { windows: number; duplicates: number; gapsOpened: number },
  ): void {
    const before = st().getDevice.get(w.deviceId) as
      | { max_seq: number; windows: number; duplicates: number; dropped_total: number; last_window_end: number }
      | undefined;
    const inserted =
      st().insertWindow.run({
        device_id: w.deviceId,
        seq: w.seq,
        class: w.deviceClass,
        window_start: w.windowStart,
        window_end: w.windowEnd,
        received_at: receivedAt,
        model_sha: w.model?.sha256 ?? null,
        variant_id: w.model?.variantId ?? null,
        inferences: w.inferences,
        errors: w.errors,
        p50_ms: w.latencyMs?.p50 ?? null,
        p95_ms: w.latencyMs?.p95 ?? null,
        p99_ms: w.latencyMs?.p99 ?? null,
        max_ms: w.latencyMs?.max ?? null,
        mean_ms: w.latencyMs?.mean ?? null,
        duty_cycle: w.dutyCycle,
        power_w: w.power?.watts ?? null,
        energy_mj: w.power?.energyPerInferenceMj ?? null,
        power_source: w.power?.source ?? null,
        golden_accuracy: w.accuracy.goldenAccuracy ?? null,
        confidence: w.accuracy.meanTop1Confidence ?? null,
        rss_bytes: w.memory.rssBytes,
        cpu_temp_c: w.thermal.cpuTempC ?? null,
        throttled: w.thermal.throttled === undefined ? null : Number(w.thermal.throttled),
        dropped_total: w.outbox.droppedTotal,
        doc: JSON.stringify(w),
      }).changes > 0;
    // Below the highest seq and not inside an open gap: a redelivery whose row retention already removed.
    const late = before !== undefined && w.seq <= before.max_seq;
    const filled =
      inserted && late ? st().fillGap.run({ device_id: w.deviceId, seq: w.seq, now: receivedAt }).changes > 0 : false;
    if (!inserted || (late && !filled)) {
      outcome.duplicates += 1;
      if (before)
        st().upsertDevice.run({
          device_id: w.deviceId,
          class: w.deviceClass,
          max_seq: before.max_seq,
          windows: before.windows,
          duplicates: before.duplicates + 1,
          dropped_total: before.dropped_total,
          last_window_end: before.last_window_end,
          last_received_at: receivedAt,
        });
      return;
    }
    outcome.windows += 1;
    if (before && w.seq > before.max_seq + 1) {
      st().insertGap.run(w.deviceId, before.max_seq + 1, w.seq - 1, receivedAt);
      outcome.gapsOpened += 1;
    }
    st().upsertDevice.run({
      device_id: w.deviceId,
      class: w.deviceClass,
      max_seq: Math.max(w.seq, before?.max_seq ?? -1),
      windows: (before?.windows ?? 0) + 1,
      duplicates: before?.duplicates ?? 0,
      dropped_total: Math.max(w.outbox.droppedTotal, before?.dropped_total ?? 0),
      last_window_end: Math.max(w.windowEnd, before?.last_window_end ?? 0),
      last_received_at: receivedAt,
    });
    const p95 = w.latencyMs?.p95;
    st().upsertRollup.run({
      class: w.deviceClass,
      minute: Math.floor(w.windowEnd / MINUTE_MS) * MINUTE_MS,
      inferences: w.inferences,
      p95_sum: p95 ?? 0,
      p95_n: p95 === undefined ? 0 : 1,
      p95_max: p95 ?? null,
      power_sum: w.power?.watts ?? 0,
      power_n: w.power ? 1 : 0,
      energy_sum: w.power?.energyPerInferenceMj ?? 0,
      energy_n: w.power?.energyPerInferenceMj == null ? 0 : 1,
      accuracy_sum: w.accuracy.goldenAccuracy ?? 0,
      accuracy_n: w.accuracy.goldenAccuracy === undefined ? 0 : 1,
      confidence_sum: w.accuracy.meanTop1Confidence ?? 0,
      confidence_n: w.accuracy.meanTop1Confidence === undefined ? 0 : 1,
      throttled: w.thermal.throttled === true ? 1 : 0,
    });
  }

  const ingest = db.transaction((items: readonly BatchItem[]): BatchOutcome => {
    const outcome = { windows: 0, duplicates: 0, gapsOpened: 0, breaches: 0, duplicateBreaches: 0 };
    const storedBreaches: Breach[] = [];
    for (const item of items) {
      if (item.kind === 'window') {
        storeWindow(item.message, item.receivedAt, outcome);
        continue;
      }
      const b = item.message;
      const inserted =
        st().insertBreach.run(
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
          item.receivedAt,
          JSON.stringify(b),
          breachIdentity(b).seq,
        ).changes > 0;
      if (inserted) storedBreaches.push(b);
      else outcome.duplicateBreaches += 1;
    }
    return { ...outcome, breaches: storedBreaches.length, storedBreaches };
  });

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
      const r = st().getDevice.get(deviceId) as RawDeviceCounters | undefined;
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
