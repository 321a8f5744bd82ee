/**
 * Telemetry ingestion [EF-PROTO 8.5]: every decoded window (and `breach` event) is buffered
 * and written in batches, each one store transaction (every `batchSize` messages, or
 * `flushIntervalMs` after the first buffered one, on the injected clock). The buffer is bounded
 * by the batch size: reaching it flushes at once, so memory never grows with the fleet's rate.
 * Batches are written one after another, in the order they filled. Once a batch has committed,
 * its acknowledgements go to `onCommitted` [EF-PROTO 8.2]; a batch that fails is not
 * acknowledged, so the agents send it again.
 *
 * One message never fails a batch (issue 18, finding 1): the store rolls back a message it
 * refuses on its own and commits the rest. A refused message is counted (`store-refused`)
 * and acknowledged with its batch, since sending it again would only be refused again.
 */
import type { Breach, Clock, RejectReason, TelemetryAck, TelemetryWindow, TimerHandle } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { BatchItem, BatchOutcome, TelemetryRepository } from '../store/telemetry.js';
import { buildTelemetryAcks } from './acks.js';

export interface TelemetryIngestOptions {
  readonly telemetry: Pick<TelemetryRepository, 'ingestBatch'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Messages per batch; reaching it flushes at once. Default 200. */
  readonly batchSize?: number;
  /** Longest a message waits in the buffer, ms (> 0). Default 250. */
  readonly flushIntervalMs?: number;
  /**
   * Told about each breach event stored for the first time, after its batch committed (the
   * control loop wakes on these).
   */
  readonly onBreach?: (breach: Breach) => void;
  /** Given the acknowledgements of each committed batch, one per device (the service publishes them). */
  readonly onCommitted?: (acks: readonly TelemetryAck[]) => void;
  /** Told about each message the store refused (`store-refused`); the server's rejection counter takes it. */
  readonly onReject?: (rejection: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
}

export interface IngestStats {
  readonly received: number;
  readonly windows: number;
  readonly duplicates: number;
  readonly gapsOpened: number;
  readonly breaches: number;
  readonly duplicateBreaches: number;
  readonly batches: number;
  readonly failedBatches: number;
  /** Messages the store refused one by one; their batch committed without them. */
  readonly refused: number;
  /** Devices seen restarting their seq (a new epoch), once per restart [EF-PROTO 8.1]. */
  readonly restarts: number;
}

export interface TelemetryIngest {
  /** Takes one decoded window or breach event (the inbound router decoded it). Never throws. */
  accept(message: TelemetryWindow | Breach): void;
  /** Writes the buffer now (queries, the control loop and shutdown call it); resolves when it is stored. */
  flush(): Promise<BatchOutcome>;
  buffered(): number;
  /** Messages in batches cut but not yet committed (they wait for the store, oldest first). */
  unstored(): number;
  stats(): IngestStats;
  /**
   * How long stored windows took from the device closing them (`windowEnd`, the moment its agent
   * publishes) to the commit of their batch: counts per upper bound in ms, cumulative like a
   * Prometheus histogram. Device and server clocks are assumed in step (same host, or NTP).
   */
  storeDelays(): StoreDelayHistogram;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

/** Upper bounds of the store-delay histogram, ms: batching is 250 ms, a loaded store takes seconds. */
export const STORE_DELAY_BOUNDS_MS: readonly number[] = [
  10, 25, 50, 100, 250, 500, 750, 1_000, 1_500, 2_500, 5_000, 10_000, 30_000, 60_000,
];

export interface StoreDelayHistogram {
  readonly boundsMs: readonly number[];
  /** `cumulative[i]`: windows stored within `boundsMs[i]`; windows past the last bound count only in `count`. */
  readonly cumulative: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

export function createTelemetryIngest(options: TelemetryIngestOptions): TelemetryIngest {
  const batchSize = options.batchSize ?? 200;
  const flushIntervalMs = options.flushIntervalMs ?? 250;
  if (!(flushIntervalMs > 0)) throw new RangeError(`flushIntervalMs must be > 0, got ${flushIntervalMs}`);
  const { clock } = options;
  const log = options.logger;
  let buffer: BatchItem[] = [];
  let timer: TimerHandle | null = null;
  // Batches are stored in the order they were cut, one at a time.
  let writing: Promise<unknown> = Promise.resolve();
  let unstored = 0;
  const counters = {
    received: 0,
    windows: 0,
    duplicates: 0,
    gapsOpened: 0,
    breaches: 0,
    duplicateBreaches: 0,
    batches: 0,
    failedBatches: 0,
    refused: 0,
    restarts: 0,
  };
  const delays = { cumulative: STORE_DELAY_BOUNDS_MS.map(() => 0), count: 0, sumMs: 0 };
  const nothing: BatchOutcome = Object.freeze({
    windows: 0,
    duplicates: 0,
    gapsOpened: 0,
    breaches: 0,
    duplicateBreaches: 0,
    storedBreaches: [],
    refused: [],
    restarts: [],
  });

  function flush(): Promise<BatchOutcome> {
    if (timer) {
      clock.clearTimeout(timer);
      timer = null;
    }
    const items = buffer;
    buffer = [];
    unstored += items.length;
    const done = writing
      .then(() => (items.length === 0 ? nothing : store(items)))
      .finally(() => (unstored -= items.length));
    writing = done;
    return done;
  }

  async function store(items: readonly BatchItem[]): Promise<BatchOutcome> {
    let outcome: BatchOutcome;
    try {
      outcome = await options.telemetry.ingestBatch(items);
    } catch (err: unknown) {
      // The transaction rolled back and nothing is acknowledged: the agents keep these
      // entries and send them again after their acknowledgement timeout [EF-PROTO 8.2].
      counters.failedBatches += 1;
      log.error({ err, messages: items.length }, 'telemetry batch could not be stored; the agents will send it again');
      return nothing;
    }
    counters.batches += 1;
    counters.windows += outcome.windows;
    counters.duplicates += outcome.duplicates;
    counters.gapsOpened += outcome.gapsOpened;
    counters.breaches += outcome.breaches;
    counters.duplicateBreaches += outcome.duplicateBreaches;
    counters.refused += outcome.refused.length;
    counters.restarts += outcome.restarts.length;
    if (outcome.windows > 0) observeDelays(items);
    for (const r of outcome.restarts)
      log.warn(
        { deviceId: r.deviceId, epoch: r.epoch, firstSeq: r.firstSeq },
        'device telemetry sequence restarted (new epoch: its data directory was new or wiped); ' +
          'its windows are stored as a new series',
      );
    for (const { item, detail } of outcome.refused)
      notify(
        () => options.onReject?.({ reason: 'store-refused', detail, deviceId: item.message.deviceId }),
        'rejection counter failed',
      );
    const { onCommitted } = options;
    if (onCommitted)
      notify(() => onCommitted(buildTelemetryAcks(items, clock.now())), 'telemetry acknowledgement failed');
    // A resent breach was announced when first stored; only new ones wake the control loop.
    for (const breach of outcome.storedBreaches) notify(() => options.onBreach?.(breach), 'breach listener failed');
    return outcome;
  }

  /** Every window of a committed batch, duplicates included: each was waiting for this commit. */
  function observeDelays(items: readonly BatchItem[]): void {
    const at = clock.now();
    for (const item of items) {
      if (item.kind !== 'window') continue;
      const ms = Math.max(0, at - item.message.windowEnd);
      delays.count += 1;
      delays.sumMs += ms;
      STORE_DELAY_BOUNDS_MS.forEach((le, i) => {
        if (ms <= le) delays.cumulative[i] = (delays.cumulative[i] ?? 0) + 1;
      });
    }
  }

  /** Listeners run after the commit: whatever they throw must not undo or repeat the batch. */
  function notify(call: () => void, what: string): void {
    try {
      call();
    } catch (err: unknown) {
      log.warn({ err }, what);
    }
  }

  function accept(message: TelemetryWindow | Breach): void {
    counters.received += 1;
    const receivedAt = clock.now();
    if (message.type === 'telemetry') buffer.push({ kind: 'window', message, receivedAt });
    else buffer.push({ kind: 'breach', message, receivedAt });
    if (buffer.length >= batchSize) void flush();
    else timer ??= clock.setTimeout(() => void flush(), flushIntervalMs);
  }

  const pick = (d: typeof delays) => ({ count: d.count, sumMs: d.sumMs });
  return {
    accept,
    flush,
    buffered: () => buffer.length,
    unstored: () => unstored,
    stats: () => ({ ...counters }),
    storeDelays: () => ({ boundsMs: STORE_DELAY_BOUNDS_MS, cumulative: [...delays.cumulative], ...pick(delays) }),
    close: async () => {
      await flush();
    },
  };
}
