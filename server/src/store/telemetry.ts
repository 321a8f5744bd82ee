/**
 * The telemetry repository (used by ingestion, the telemetry queries and the control loop's
 * observer): windows, per-device counters, gaps, per-class minute rollups and breach events.
 * Inserts take parsed messages; a batch is one transaction, each message a savepoint in it.
 */
import type { Breach, TelemetryWindow } from '@edgefleet/shared';

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

/** One message of a batch, as ingestion received it. */
export type BatchItem =
  | { readonly kind: 'window'; readonly message: TelemetryWindow; readonly receivedAt: number }
  | { readonly kind: 'breach'; readonly message: Breach; readonly receivedAt: number };

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

/** One message of a batch the store refused for good (a rule of its schema), and what it said. */
export interface RefusedItem {
  readonly item: BatchItem;
  readonly detail: string;
}

/** A device whose telemetry seq restarted: the first window of its new epoch. */
export interface SeqRestart {
  readonly deviceId: string;
  readonly epoch: string;
  readonly firstSeq: number;
}

export interface TimeRange {
  readonly from?: number;
  readonly to?: number;
}

export interface BreachFilter {
  readonly deviceClass?: string;
  readonly deviceId?: string;
  readonly since?: number;
  /** The newest `limit` (default 1000), returned oldest first. */
  readonly limit?: number;
}

export interface TelemetryRepository {
  /**
   * Stores windows and breaches: dedupe by (device, epoch, seq), gaps, per-class minute rollups
   * whose counters saturate at 2^53 - 1 instead of overflowing. One message the store refuses
   * for good (a schema rule its row breaks) is rolled back alone and listed in `refused`; the
   * rest of the batch commits. A failure of the store itself (disk full, I/O) fails the whole
   * batch, which stays unacknowledged and is sent again.
   */
  ingestBatch(items: readonly BatchItem[]): Promise<BatchOutcome>;
  /** A device's windows ending inside the range, by seq (at most `limit`, default 10 000). */
  windows(deviceId: string, range: TimeRange & { readonly limit?: number }): Promise<WindowRow[]>;
  /** Windows of every device of a class ending at or after `since`, by device then seq. */
  recentByClass(deviceClass: string, since: number): Promise<WindowRow[]>;
  /** A device's last `limit` windows, oldest first. */
  lastWindows(deviceId: string, limit: number): Promise<WindowRow[]>;
  rollups(deviceClass: string, range: TimeRange): Promise<MinuteRollup[]>;
  /** Gaps (of one device, or all), in the order they were found. */
  gaps(deviceId?: string): Promise<GapRow[]>;
  device(deviceId: string): Promise<DeviceTelemetryRow | null>;
  devicesOfClass(deviceClass: string): Promise<DeviceTelemetryRow[]>;
  breaches(filter: BreachFilter): Promise<BreachRow[]>;
  /**
   * Deletes windows with window_end < `windowsBefore` and rollups with minute < `rollupsBefore`; returns rows deleted.
   */
  prune(windowsBefore: number, rollupsBefore: number): Promise<number>;
}
