/**
 * Telemetry ingestion [EF-PROTO 8.5]: every decoded window (and `breach` event) is buffered
 * and written in batched SQLite
 * transactions (every `batchSize` messages or `flushIntervalMs`). The buffer is bounded by
 * the batch size: reaching it flushes at once, so memory never grows with the fleet's rate.
 * Once a batch has committed, its acknowledgements go to `onCommitted` [EF-PROTO 8.2]; a
 * batch that fails is not acknowledged, so the agents send it again.
 *
 * One message never fails a batch (issue 18, finding 1): the store rolls back a message it
 * refuses on its own and commits the rest. A refused message is counted (`store-refused`)
 * and acknowledged with its batch, since sending it again would only be refused again.
 */
import type { Breach, RejectReason, TelemetryAck, TelemetryWindow } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { BatchItem, BatchOutcome, TelemetryTables } from '../store/telemetry-tables.js';
import { buildTelemetryAcks } from './acks.js';

export interface TelemetryIngestOptions {
  readonly tables: TelemetryTables;
  readonly now: () => number;
  readonly logger: Logger;
  /** Messages per transaction; reaching it flushes at once. Default 200. */
  readonly batchSize?: number;
  /** Longest a message waits in the buffer, ms; 0: only batchSize and `flush()` flush. Default 250. */
  readonly flushIntervalMs?: number;
  /** Told about each breach event stored for the first time, after its batch committed (the control loop wakes on these). */
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
  /** Writes the buffer now (tests, shutdown). */
  flush(): BatchOutcome;
  buffered(): number;
  stats(): IngestStats;
  /** Flushes and stops the timer. */
  close(): void;
}

export function createTelemetryIngest(options: TelemetryIngestOptions): TelemetryIngest {
  const batchSize = options.batchSize ?? 200;
  const flushIntervalMs = options.flushIntervalMs ?? 250;
  const log = options.logger;
  let buffer: BatchItem[] = [];
  let timer: NodeJS.Timeout | null = null;
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

  function flush(): BatchOutcome {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const items = buffer;
    buffer = [];
    if (items.length === 0) return nothing;
    let outcome: BatchOutcome;
    try {
      outcome = options.tables.ingestBatch(items);
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
    for (const r of outcome.restarts)
      log.warn(
        { deviceId: r.deviceId, epoch: r.epoch, firstSeq: r.firstSeq },
        'device telemetry sequence restarted (new epoch: its data directory was new or wiped); its windows are stored as a new series',
      );
    for (const { item, detail } of outcome.refused)
      notify(
        () => options.onReject?.({ reason: 'store-refused', detail, deviceId: item.message.deviceId }),
        'rejection counter failed',
      );
    const { onCommitted } = options;
    if (onCommitted)
      notify(() => onCommitted(buildTelemetryAcks(items, options.now())), 'telemetry acknowledgement failed');
    // A resent breach was announced when first stored; only new ones wake the control loop.
    for (const breach of outcome.storedBreaches) notify(() => options.onBreach?.(breach), 'breach listener failed');
    return outcome;
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
    buffer.push({ kind: message.type === 'telemetry' ? 'window' : 'breach', message, receivedAt: options.now() });
    if (buffer.length >= batchSize) {
      flush();
    } else if (!timer && flushIntervalMs > 0) {
      timer = setTimeout(flush, flushIntervalMs);
      timer.unref();
    }
  }

  return {
    accept,
    flush,
    buffered: () => buffer.length,
    stats: () => ({ ...counters }),
    close: () => {
      flush();
    },
  };
}
