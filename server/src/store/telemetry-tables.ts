/**
 * SQL of the telemetry tables (migration 30). Inserts take parsed messages; a whole batch
 * goes through `ingestBatch` in one transaction. Reads return plain rows; the query layer in
 * server/src/telemetry turns them into series and budget status.
 */
import { breachIdentity, type Breach, type TelemetryWindow } from '@edgefleet/shared';
import type { Db } from './db.js';

/** A stored window, as the query layer sees it. */
export interface WindowRow {
  readonly deviceId: string;
  readonly seq: number;
  readonly deviceClass: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly receivedAt: number;
  readonly modelSha: string | null;
  readonly variantId: string | null;
  readonly inferences: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly meanMs: number | null;
  readonly dutyCycle: number;
  readonly powerW: number | null;
  readonly energyMj: number | null;
  readonly powerSource: 'measured' | 'modelled' | null;
  readonly goldenAccuracy: number | null;
  readonly confidence: number | null;
  readonly rssBytes: number;
  readonly cpuTempC: number | null;
  readonly throttled: boolean | null;
  readonly droppedTotal: number;
}

/** Per-class per-minute rollup. Means are over windows that had the figure. */
export interface MinuteRollup {
  readonly deviceClass: string;
  /** Start of the minute, ms. */
  readonly minute: number;
  readonly windows: number;
  readonly inferences: number;
  readonly meanP95Ms: number | null;
  readonly maxP95Ms: number | null;
  readonly meanPowerW: number | null;
  readonly meanEnergyMj: number | null;
  readonly meanGoldenAccuracy: number | null;
  readonly meanConfidence: number | null;
  readonly throttledWindows: number;
}

export interface GapRow {
  readonly deviceId: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly filled: number;
  readonly detectedAt: number;
  readonly closedAt: number | null;
}

export interface DeviceTelemetryRow {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly maxSeq: number;
  readonly windows: number;
  readonly duplicates: number;
  readonly droppedTotal: number;
  readonly lastWindowEnd: number;
  readonly lastReceivedAt: number;
}

export interface BreachRow {
  readonly id: number;
  readonly receivedAt: number;
  readonly breach: Breach;
}

export interface BatchItem {
  readonly kind: 'window' | 'breach';
  readonly message: TelemetryWindow | Breach;
  readonly receivedAt: number;
}

/** What one batch did. */
export interface BatchOutcome {
  readonly windows: number;
  readonly duplicates: number;
  /** Gaps opened by this batch (a seq jumped). */
  readonly gapsOpened: number;
  /** Breach events stored for the first time. */
  readonly breaches: number;
  /** Breach events already stored (a resend), by `(device, budget, raising window)`. */
  readonly duplicateBreaches: number;
  /** The breach events stored for the first time, in batch order (the ones to announce). */
  readonly storedBreaches: readonly Breach[];
  /** Messages the store refused for good (each rolled back alone; the rest of the batch stands). */
  readonly refused: readonly RefusedItem[];
  /** Devices whose seq restarted in this batch (a new epoch after another) [EF-PROTO 8.1]. */
  readonly restarts: readonly SeqRestart[];
}

/** One message of a batch that SQLite refused, and what it said. */
export interface RefusedItem {
  readonly item: BatchItem;
  readonly detail: string;
}

export interface TelemetryTables {
  /** Stores windows and breaches in one transaction: dedupe, gaps, rollups. */
  ingestBatch(items: readonly BatchItem[]): BatchOutcome;
  windows(deviceId: string, range: { from?: number; to?: number; limit?: number }): WindowRow[];
  /** The last `limit` windows of every device of a class (newest last per device), for status. */
  recentByClass(deviceClass: string, since: number): WindowRow[];
  lastWindows(deviceId: string, limit: number): WindowRow[];
  rollups(deviceClass: string, range: { from?: number; to?: number }): MinuteRollup[];
  gaps(deviceId?: string): GapRow[];
  device(deviceId: string): DeviceTelemetryRow | null;
  devicesOfClass(deviceClass: string): DeviceTelemetryRow[];
  breaches(filter: { deviceClass?: string; deviceId?: string; since?: number; limit?: number }): BreachRow[];
  /** Deletes windows with window_end < `windowsBefore` and rollups with minute < `rollupsBefore`; returns rows deleted. */
  prune(windowsBefore: number, rollupsBefore: number): number;
}

interface RawWindow {
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

function toWindowRow(r: RawWindow): WindowRow {
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
/**
 * Counters in the rollups saturate here instead of overflowing (issue 18, finding 1): past
 * 2^63 SQLite turns the sum into a REAL that a STRICT INTEGER column refuses, which used to
 * fail the whole batch. 2^53 - 1 is also the largest count a JS number reads back exactly.
 */
const SAFE = Number.MAX_SAFE_INTEGER;
/** Stored seqs of a device's epoch k start at k * 2^32 (a device's seq stays below, SEQ_MAX). */
const EPOCH_SPAN = 2 ** 32;

/** A device whose telemetry seq restarted: the first window of its new epoch. */
export interface SeqRestart {
  readonly deviceId: string;
  readonly epoch: string;
  readonly firstSeq: number;
}

/**
 * SQLite result codes that mean "this message can never be stored" (a rule of the schema the
 * row breaks); anything else (disk full, I/O, busy, a trigger the schema does not define) is
 * about the store and fails the batch, which the agents then send again.
 */
const PERMANENT_CODE = /^SQLITE_(CONSTRAINT_(NOTNULL|CHECK|DATATYPE|PRIMARYKEY|UNIQUE)|MISMATCH|TOOBIG|RANGE)$/;

/** True when `err` is SQLite refusing this one row, not the store failing. */
export function refusesRow(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PERMANENT_CODE.test(code);
}

export function createTelemetryTables(db: Db): TelemetryTables {
  // Statements are prepared on first use: a read-only store of an older schema must still open.
  let prepared: ReturnType<typeof prepare> | null = null;
  const st = (): ReturnType<typeof prepare> => (prepared ??= prepare());
  function prepare() {
    // Only the (device, seq) conflict is a duplicate; OR IGNORE would also swallow a NOT NULL
    // violation and count a broken window as a duplicate.
    const insertWindow = db.prepare(`INSERT INTO telemetry_windows VALUES (
    @device_id, @seq, @class, @window_start, @window_end, @received_at, @model_sha, @variant_id, @inferences, @errors,
    @p50_ms, @p95_ms, @p99_ms, @max_ms, @mean_ms, @duty_cycle, @power_w, @energy_mj, @power_source,
    @golden_accuracy, @confidence, @rss_bytes, @cpu_temp_c, @throttled, @dropped_total, @doc)
    ON CONFLICT (device_id, seq) DO NOTHING`);
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
    ON CONFLICT(class, minute) DO UPDATE SET windows = MIN(windows + 1, ${SAFE}), inferences = MIN(inferences + excluded.inferences, ${SAFE}),
      p95_sum = p95_sum + excluded.p95_sum, p95_n = p95_n + excluded.p95_n, p95_max = MAX(COALESCE(p95_max, excluded.p95_max), COALESCE(excluded.p95_max, p95_max)),
      power_sum = power_sum + excluded.power_sum, power_n = power_n + excluded.power_n, energy_sum = energy_sum + excluded.energy_sum, energy_n = energy_n + excluded.energy_n,
      accuracy_sum = accuracy_sum + excluded.accuracy_sum, accuracy_n = accuracy_n + excluded.accuracy_n,
      confidence_sum = confidence_sum + excluded.confidence_sum, confidence_n = confidence_n + excluded.confidence_n,
      throttled_windows = MIN(throttled_windows + excluded.throttled_windows, ${SAFE})`);
    // Only the identity conflict is ignored (a resent event, migration 31); any other violation still fails the batch.
    const insertBreach =
      db.prepare(`INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit, model_sha, throttled, sent_at, received_at, doc, window_seq)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, budget, window_seq) DO NOTHING`);

    const getEpoch = db.prepare('SELECT idx FROM telemetry_epochs WHERE device_id = ? AND epoch = ?');
    const maxEpoch = db.prepare('SELECT MAX(idx) AS idx FROM telemetry_epochs WHERE device_id = ?');
    const insertEpoch = db.prepare(
      'INSERT INTO telemetry_epochs (device_id, epoch, idx, first_seen) VALUES (?, ?, ?, ?)',
    );
    return {
      insertWindow,
      getDevice,
      upsertDevice,
      insertGap,
      fillGap,
      upsertRollup,
      insertBreach,
      getEpoch,
      maxEpoch,
      insertEpoch,
    };
  }

  /**
   * Where a device's epoch starts in the stored seq space (idx * 2^32), registering the
   * epoch on first sight. A device with windows from before epochs owns index 0 as epoch ''.
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

  function storeWindow(
    w: TelemetryWindow,
    receivedAt: number,
    outcome: { windows: number; duplicates: number; gapsOpened: number; restarts: SeqRestart[] },
  ): void {
    const { base, restarted } = epochBase(w.deviceId, w.epoch ?? '', receivedAt);
    const seq = base + w.seq;
    if (restarted) outcome.restarts.push({ deviceId: w.deviceId, epoch: w.epoch ?? '', firstSeq: w.seq });
    const before = st().getDevice.get(w.deviceId) as
      | { max_seq: number; windows: number; duplicates: number; dropped_total: number; last_window_end: number }
      | undefined;
    const inserted =
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
      }).changes > 0;
    // Below the highest seq and not inside an open gap: a redelivery whose row retention already removed.
    const late = before !== undefined && seq <= before.max_seq;
    const filled =
      inserted && late ? st().fillGap.run({ device_id: w.deviceId, seq, now: receivedAt }).changes > 0 : false;
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
    // A new epoch's first window continues from the start of its span, not the old maximum.
    const expected = restarted ? base : (before?.max_seq ?? -1) + 1;
    if (before && seq > expected) {
      st().insertGap.run(w.deviceId, expected, seq - 1, receivedAt);
      outcome.gapsOpened += 1;
    }
    st().upsertDevice.run({
      device_id: w.deviceId,
      class: w.deviceClass,
      max_seq: Math.max(seq, before?.max_seq ?? -1),
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

  type Counts = {
    windows: number;
    duplicates: number;
    gapsOpened: number;
    duplicateBreaches: number;
    restarts: SeqRestart[];
  };

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
    if (item.kind === 'window') {
      const own = { windows: 0, duplicates: 0, gapsOpened: 0, restarts: [] as SeqRestart[] };
      storeWindow(item.message as TelemetryWindow, item.receivedAt, own);
      counts.windows += own.windows;
      counts.duplicates += own.duplicates;
      counts.gapsOpened += own.gapsOpened;
      counts.restarts.push(...own.restarts);
      return;
    }
    const b = item.message as Breach;
    if (storeBreach(b, item.receivedAt)) storedBreaches.push(b);
    else counts.duplicateBreaches += 1;
  });

  const ingest = db.transaction((items: readonly BatchItem[]): BatchOutcome => {
    const counts: Counts = { windows: 0, duplicates: 0, gapsOpened: 0, duplicateBreaches: 0, restarts: [] };
    const storedBreaches: Breach[] = [];
    const refused: RefusedItem[] = [];
    for (const item of items) {
      try {
        storeItem(item, counts, storedBreaches);
      } catch (err: unknown) {
        // One message never fails the batch (issue 18, finding 1); the store failing does.
        if (!refusesRow(err)) throw err;
        refused.push({ item, detail: `${(err as { code: string }).code}: ${(err as Error).message}` });
      }
    }
    return { ...counts, breaches: storedBreaches.length, storedBreaches, refused };
  });

  const rawWindows = (sql: string, ...params: unknown[]): WindowRow[] =>
    (db.prepare(sql).all(...params) as RawWindow[]).map(toWindowRow);
  const deviceRow = (r: {
    device_id: string;
    class: string;
    max_seq: number;
    windows: number;
    duplicates: number;
    dropped_total: number;
    last_window_end: number;
    last_received_at: number;
  }): DeviceTelemetryRow => ({
    deviceId: r.device_id,
    deviceClass: r.class,
    maxSeq: r.max_seq,
    windows: r.windows,
    duplicates: r.duplicates,
    droppedTotal: r.dropped_total,
    lastWindowEnd: r.last_window_end,
    lastReceivedAt: r.last_received_at,
  });

  return Object.freeze({
    ingestBatch: (items: readonly BatchItem[]) => ingest(items),
    windows: (deviceId: string, range: { from?: number; to?: number; limit?: number }) =>
      rawWindows(
        'SELECT * FROM telemetry_windows WHERE device_id = ? AND window_end >= ? AND window_end <= ? ORDER BY seq LIMIT ?',
        deviceId,
        range.from ?? 0,
        range.to ?? Number.MAX_SAFE_INTEGER,
        range.limit ?? 10_000,
      ),
    recentByClass: (deviceClass: string, since: number) =>
      rawWindows(
        'SELECT * FROM telemetry_windows WHERE class = ? AND window_end >= ? ORDER BY device_id, seq',
        deviceClass,
        since,
      ),
    lastWindows: (deviceId: string, limit: number) =>
      rawWindows(
        'SELECT * FROM (SELECT * FROM telemetry_windows WHERE device_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
        deviceId,
        limit,
      ),
    rollups: (deviceClass: string, range: { from?: number; to?: number }) =>
      (
        db
          .prepare(
            'SELECT * FROM telemetry_class_minutes WHERE class = ? AND minute >= ? AND minute <= ? ORDER BY minute',
          )
          .all(deviceClass, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER) as Array<
          Record<string, number | string | null>
        >
      ).map(
        (r): MinuteRollup => ({
          deviceClass: r.class as string,
          minute: r.minute as number,
          windows: r.windows as number,
          inferences: r.inferences as number,
          meanP95Ms: mean(r.p95_sum as number, r.p95_n as number),
          maxP95Ms: r.p95_max as number | null,
          meanPowerW: mean(r.power_sum as number, r.power_n as number),
          meanEnergyMj: mean(r.energy_sum as number, r.energy_n as number),
          meanGoldenAccuracy: mean(r.accuracy_sum as number, r.accuracy_n as number),
          meanConfidence: mean(r.confidence_sum as number, r.confidence_n as number),
          throttledWindows: r.throttled_windows as number,
        }),
      ),
    gaps: (deviceId?: string) =>
      (
        db
          .prepare(`SELECT * FROM telemetry_gaps ${deviceId === undefined ? '' : 'WHERE device_id = ?'} ORDER BY id`)
          .all(...(deviceId === undefined ? [] : [deviceId])) as Array<{
          device_id: string;
          from_seq: number;
          to_seq: number;
          filled: number;
          detected_at: number;
          closed_at: number | null;
        }>
      ).map(
        (r): GapRow => ({
          deviceId: r.device_id,
          fromSeq: r.from_seq,
          toSeq: r.to_seq,
          filled: r.filled,
          detectedAt: r.detected_at,
          closedAt: r.closed_at,
        }),
      ),
    device: (deviceId: string) => {
      const r = st().getDevice.get(deviceId) as Parameters<typeof deviceRow>[0] | undefined;
      return r ? deviceRow(r) : null;
    },
    devicesOfClass: (deviceClass: string) =>
      (
        db.prepare('SELECT * FROM telemetry_devices WHERE class = ? ORDER BY device_id').all(deviceClass) as Array<
          Parameters<typeof deviceRow>[0]
        >
      ).map(deviceRow),
    breaches: (filter: { deviceClass?: string; deviceId?: string; since?: number; limit?: number }) =>
      (
        db
          .prepare(
            'SELECT id, received_at, doc FROM telemetry_breaches WHERE (@class IS NULL OR class = @class) AND (@device IS NULL OR device_id = @device) AND received_at >= @since ORDER BY id DESC LIMIT @limit',
          )
          .all({
            class: filter.deviceClass ?? null,
            device: filter.deviceId ?? null,
            since: filter.since ?? 0,
            limit: filter.limit ?? 1000,
          }) as Array<{ id: number; received_at: number; doc: string }>
      )
        .reverse()
        .map((r): BreachRow => ({ id: r.id, receivedAt: r.received_at, breach: JSON.parse(r.doc) as Breach })),
    prune: (windowsBefore: number, rollupsBefore: number) => {
      const a = db.prepare('DELETE FROM telemetry_windows WHERE window_end < ?').run(windowsBefore).changes;
      const b = db.prepare('DELETE FROM telemetry_class_minutes WHERE minute < ?').run(rollupsBefore).changes;
      return a + b;
    },
  });
}
