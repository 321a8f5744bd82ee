/**
 * Telemetry ingestion on SQLite (migrations 30–32): one transaction per batch, one savepoint
 * per message in it (issue 18, finding 1), so a message SQLite refuses rolls back alone while
 * the rest of the batch commits. Each device's telemetry epochs get their own seq span
 * [EF-PROTO 8.1]; rollup counters saturate instead of overflowing.
 */
import { asError, breachIdentity, errnoCode, type Breach, type TelemetryWindow } from '@edgefleet/shared';
import type { BatchItem, BatchOutcome, RefusedItem, SeqRestart } from '../telemetry.js';
import type { Db } from './open.js';
import type { RawDeviceCounters } from './telemetry.js';

const MINUTE_MS = 60_000;
/**
 * Counters in the rollups saturate here instead of overflowing: past 2^63 SQLite turns the sum
 * into a REAL that a STRICT INTEGER column refuses, which used to fail the whole batch. 2^53 - 1
 * is also the largest count a JS number reads back exactly.
 */
export const ROLLUP_COUNTER_MAX = Number.MAX_SAFE_INTEGER;
/** Stored seqs of a device's epoch k start at k * 2^32 (a device's own seq stays below, SEQ_MAX). */
export const EPOCH_SPAN = 2 ** 32;

/**
 * A device's counters after a window stored in order (stored seq `seq`), on either store: the
 * per-message path here and Postgres's batch path (../postgres/telemetry-batch.ts) must agree.
 */
export function countersAfterWindow(
  before:
    | Pick<RawDeviceCounters, 'max_seq' | 'windows' | 'duplicates' | 'dropped_total' | 'last_window_end'>
    | null
    | undefined,
  w: TelemetryWindow,
  seq: number,
  receivedAt: number,
): RawDeviceCounters {
  return {
    device_id: w.deviceId,
    class: w.deviceClass,
    max_seq: Math.max(seq, before?.max_seq ?? -1),
    windows: (before?.windows ?? 0) + 1,
    duplicates: before?.duplicates ?? 0,
    dropped_total: Math.max(w.outbox.droppedTotal, before?.dropped_total ?? 0),
    last_window_end: Math.max(w.windowEnd, before?.last_window_end ?? 0),
    last_received_at: receivedAt,
  };
}

/**
 * SQLite result codes that mean "this message can never be stored" (a rule of the schema the
 * row breaks); anything else (disk full, I/O, busy) is about the store and fails the batch,
 * which the agents then send again.
 */
const PERMANENT_CODE = /^SQLITE_(CONSTRAINT_(NOTNULL|CHECK|DATATYPE|PRIMARYKEY|UNIQUE)|MISMATCH|TOOBIG|RANGE)$/;

/** True when `err` is SQLite refusing this one row, not the store failing. */
export function refusesRow(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && PERMANENT_CODE.test(code);
}

interface DeviceCounters {
  max_seq: number;
  windows: number;
  duplicates: number;
  dropped_total: number;
  last_window_end: number;
}

interface Counts {
  windows: number;
  duplicates: number;
  gapsOpened: number;
  duplicateBreaches: number;
  restarts: SeqRestart[];
}

function prepare(db: Db) {
  const SAFE = ROLLUP_COUNTER_MAX;
  return {
    // Only the (device, seq) conflict is a duplicate; OR IGNORE would also swallow a NOT NULL
    // violation and count a broken window as a duplicate.
    insertWindow: db.prepare(`INSERT INTO telemetry_windows VALUES (
      @device_id, @seq, @class, @window_start, @window_end, @received_at, @model_sha, @variant_id, @inferences,
      @errors, @p50_ms, @p95_ms, @p99_ms, @max_ms, @mean_ms, @duty_cycle, @power_w, @energy_mj, @power_source,
      @golden_accuracy, @confidence, @rss_bytes, @cpu_temp_c, @throttled, @dropped_total, @doc)
      ON CONFLICT (device_id, seq) DO NOTHING`),
    getDevice: db.prepare('SELECT * FROM telemetry_devices WHERE device_id = ?'),
    upsertDevice: db.prepare(`INSERT INTO telemetry_devices VALUES (@device_id, @class, @max_seq, @windows,
      @duplicates, @dropped_total, @last_window_end, @last_received_at)
      ON CONFLICT(device_id) DO UPDATE SET class = excluded.class, max_seq = excluded.max_seq,
        windows = excluded.windows, duplicates = excluded.duplicates, dropped_total = excluded.dropped_total,
        last_window_end = excluded.last_window_end, last_received_at = excluded.last_received_at`),
    insertGap: db.prepare('INSERT INTO telemetry_gaps (device_id, from_seq, to_seq, detected_at) VALUES (?, ?, ?, ?)'),
    fillGap: db.prepare(`UPDATE telemetry_gaps SET filled = filled + 1,
      closed_at = CASE WHEN filled + 1 >= to_seq - from_seq + 1 THEN @now ELSE closed_at END
      WHERE device_id = @device_id AND closed_at IS NULL AND @seq BETWEEN from_seq AND to_seq`),
    upsertRollup: db.prepare(`INSERT INTO telemetry_class_minutes VALUES (@class, @minute, 1, MIN(@inferences, ${SAFE}),
      @p95_sum, @p95_n, @p95_max, @power_sum, @power_n, @energy_sum, @energy_n, @accuracy_sum, @accuracy_n,
      @confidence_sum, @confidence_n, @throttled)
      ON CONFLICT(class, minute) DO UPDATE SET windows = MIN(windows + 1, ${SAFE}),
        inferences = MIN(inferences + excluded.inferences, ${SAFE}),
        p95_sum = p95_sum + excluded.p95_sum, p95_n = p95_n + excluded.p95_n,
        p95_max = MAX(COALESCE(p95_max, excluded.p95_max), COALESCE(excluded.p95_max, p95_max)),
        power_sum = power_sum + excluded.power_sum, power_n = power_n + excluded.power_n,
        energy_sum = energy_sum + excluded.energy_sum, energy_n = energy_n + excluded.energy_n,
        accuracy_sum = accuracy_sum + excluded.accuracy_sum, accuracy_n = accuracy_n + excluded.accuracy_n,
        confidence_sum = confidence_sum + excluded.confidence_sum,
        confidence_n = confidence_n + excluded.confidence_n,
        throttled_windows = MIN(throttled_windows + excluded.throttled_windows, ${SAFE})`),
    // Only the identity conflict is ignored (a resent event, migration 31); any other violation refuses the event.
    insertBreach: db.prepare(`INSERT INTO telemetry_breaches (device_id, class, budget, state, measured,
      limit_value, unit, model_sha, throttled, sent_at, received_at, doc, window_seq)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, budget, window_seq) DO NOTHING`),
    getEpoch: db.prepare('SELECT idx FROM telemetry_epochs WHERE device_id = ? AND epoch = ?'),
    maxEpoch: db.prepare('SELECT MAX(idx) AS idx FROM telemetry_epochs WHERE device_id = ?'),
    insertEpoch: db.prepare('INSERT INTO telemetry_epochs (device_id, epoch, idx, first_seen) VALUES (?, ?, ?, ?)'),
  };
}

/** The telemetry repository's `ingestBatch` on SQLite. */
export function createSqliteTelemetryIngest(db: Db): (items: readonly BatchItem[]) => BatchOutcome {
  // Prepared on first use: a store opened with fewer migrations (a migration's own test) must still open.
  let prepared: ReturnType<typeof prepare> | null = null;
  const st = (): ReturnType<typeof prepare> => (prepared ??= prepare(db));

  /**
   * Where a device's epoch starts in the stored seq space (idx * 2^32), registering the epoch
   * on first sight. A device with windows from before epochs owns index 0 as epoch ''.
   * `restarted` is true when this epoch follows another: the device's counter restarted.
   */
  function epochBase(deviceId: string, epoch: string, receivedAt: number): { base: number; restarted: boolean } {
    const known = st().getEpoch.get(deviceId, epoch) as { idx: number } | undefined;
    if (known) return { base: known.idx * EPOCH_SPAN, restarted: false };
    let last = (st().maxEpoch.get(deviceId) as { idx: number | null }).idx;
    if (last === null && epoch !== '' && st().getDevice.get(deviceId) !== undefined) {
      st().insertEpoch.run(deviceId, '', 0, receivedAt);
      last = 0;
    }
    const idx = last === null ? 0 : last + 1;
    st().insertEpoch.run(deviceId, epoch, idx, receivedAt);
    return { base: idx * EPOCH_SPAN, restarted: last !== null };
  }

  function insertWindow(w: TelemetryWindow, seq: number, receivedAt: number): boolean {
    return (
      st().insertWindow.run({
        device_id: w.deviceId,
        seq,
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
      }).changes > 0
    );
  }

  function addToRollup(w: TelemetryWindow): void {
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

  function storeWindow(w: TelemetryWindow, receivedAt: number, counts: Counts): void {
    const { base, restarted } = epochBase(w.deviceId, w.epoch ?? '', receivedAt);
    const seq = base + w.seq;
    if (restarted) counts.restarts.push({ deviceId: w.deviceId, epoch: w.epoch ?? '', firstSeq: w.seq });
    const before = st().getDevice.get(w.deviceId) as DeviceCounters | undefined;
    const inserted = insertWindow(w, seq, receivedAt);
    // Below the highest seq and not inside an open gap: a redelivery whose row retention already removed.
    const late = before !== undefined && seq <= before.max_seq;
    const filled =
      inserted && late ? st().fillGap.run({ device_id: w.deviceId, seq, now: receivedAt }).changes > 0 : false;
    if (!inserted || (late && !filled)) {
      counts.duplicates += 1;
      if (before)
        st().upsertDevice.run({
          ...before,
          device_id: w.deviceId,
          class: w.deviceClass,
          duplicates: before.duplicates + 1,
          last_received_at: receivedAt,
        });
      return;
    }
    counts.windows += 1;
    // A new epoch's first window continues from the start of its span, not the old maximum.
    const expected = restarted ? base : (before?.max_seq ?? -1) + 1;
    if (before && seq > expected) {
      st().insertGap.run(w.deviceId, expected, seq - 1, receivedAt);
      counts.gapsOpened += 1;
    }
    st().upsertDevice.run(countersAfterWindow(before, w, seq, receivedAt));
    addToRollup(w);
  }

  /** Stores one breach event; true when it is new (not a resend). */
  function storeBreach(b: Breach, receivedAt: number): boolean {
    const { base } = epochBase(b.deviceId, b.epoch ?? '', receivedAt);
    return (
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
        receivedAt,
        JSON.stringify(b),
        base + breachIdentity(b).seq,
      ).changes > 0
    );
  }

  /**
   * One message in a savepoint of its own (better-sqlite3 nests transactions as savepoints):
   * if SQLite refuses it, only its own writes roll back. Its counts are added only once it
   * went through, so a refused message leaves no trace in the outcome either.
   */
  const storeItem = db.transaction((item: BatchItem, counts: Counts, storedBreaches: Breach[]): void => {
    if (item.kind === 'breach') {
      if (storeBreach(item.message, item.receivedAt)) storedBreaches.push(item.message);
      else counts.duplicateBreaches += 1;
      return;
    }
    const own: Counts = { windows: 0, duplicates: 0, gapsOpened: 0, duplicateBreaches: 0, restarts: [] };
    storeWindow(item.message, item.receivedAt, own);
    counts.windows += own.windows;
    counts.duplicates += own.duplicates;
    counts.gapsOpened += own.gapsOpened;
    counts.restarts.push(...own.restarts);
  });

  return db.transaction((items: readonly BatchItem[]): BatchOutcome => {
    const counts: Counts = { windows: 0, duplicates: 0, gapsOpened: 0, duplicateBreaches: 0, restarts: [] };
    const storedBreaches: Breach[] = [];
    const refused: RefusedItem[] = [];
    for (const item of items) {
      try {
        storeItem(item, counts, storedBreaches);
      } catch (err: unknown) {
        // One message never fails the batch (issue 18, finding 1); the store failing does.
        if (!refusesRow(err)) throw err;
        refused.push({ item, detail: `${errnoCode(err)}: ${asError(err).message}` });
      }
    }
    return { ...counts, breaches: storedBreaches.length, storedBreaches, refused };
  });
}
