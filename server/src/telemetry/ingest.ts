/**
 * Telemetry ingestion [EF-PROTO 8.5]: every message on `telemetry` (and `breach` events on
 * `events`) is decoded with the shared decoder, buffered, and written in batched SQLite
 * transactions (every `batchSize` messages or `flushIntervalMs`). The buffer is bounded by
 * the batch size: reaching it flushes at once, so memory never grows with the fleet's rate.
 */
import { decodeMessage, parseTopic, type Breach, type RejectReason } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { BatchItem, BatchOutcome, TelemetryTables } from '../store/telemetry-tables.js';

export interface TelemetryIngestOptions {
  readonly tables: TelemetryTables;
  readonly now: () => number;
  readonly logger: Logger;
  /** Messages per transaction; reaching it flushes at once. Default 200. */
  readonly batchSize?: number;
  /** Longest a message waits in the buffer, ms; 0: only batchSize and `flush()` flush. Default 250. */
  readonly flushIntervalMs?: number;
  readonly maxPayloadBytes?: number;
  /** Told about every rejected `telemetry` message (events-channel failures belong to the deployer). */
  readonly onReject?: (r: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
  /** Told about each stored breach event after its batch committed (the control loop wakes on these). */
  readonly onBreach?: (breach: Breach) => void;
}

export interface IngestStats {
  readonly received: number;
  readonly windows: number;
  readonly duplicates: number;
  readonly gapsOpened: number;
  readonly breaches: number;
  readonly rejected: number;
  readonly batches: number;
  readonly failedBatches: number;
}

export interface TelemetryIngest {
  /** Entry point for messages on `telemetry` and `events`. Never throws. */
  handleMessage(topic: string, payload: Buffer): void;
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
  const decodeOptions = options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes };
  let buffer: BatchItem[] = [];
  let timer: NodeJS.Timeout | null = null;
  const counters = { received: 0, windows: 0, duplicates: 0, gapsOpened: 0, breaches: 0, rejected: 0, batches: 0, failedBatches: 0 };

  function flush(): BatchOutcome {
    if (timer) { clearTimeout(timer); timer = null; }
    const items = buffer;
    buffer = [];
    if (items.length === 0) return { windows: 0, duplicates: 0, gapsOpened: 0, breaches: 0 };
    try {
      const outcome = options.tables.ingestBatch(items);
      counters.batches += 1;
      counters.windows += outcome.windows;
      counters.duplicates += outcome.duplicates;
      counters.gapsOpened += outcome.gapsOpened;
      counters.breaches += outcome.breaches;
      for (const item of items) if (item.kind === 'breach') notifyBreach(item.message as Breach);
      return outcome;
    } catch (err: unknown) {
      // The transaction rolled back; the agents' outboxes do not resend acknowledged windows,
      // so this batch is lost and counted, but the store stays consistent.
      counters.failedBatches += 1;
      log.error({ err, messages: items.length }, 'telemetry batch could not be stored');
      return { windows: 0, duplicates: 0, gapsOpened: 0, breaches: 0 };
    }
  }

  function notifyBreach(breach: Breach): void {
    try {
      options.onBreach?.(breach);
    } catch (err: unknown) {
      log.warn({ err }, 'breach listener failed');
    }
  }

  function handleMessage(topic: string, payload: Buffer): void {
    const channel = parseTopic(topic)?.channel;
    if (channel !== 'telemetry' && channel !== 'events') return;
    const decoded = decodeMessage(topic, payload, decodeOptions);
    if (!decoded.ok) {
      if (channel === 'telemetry') {
        counters.rejected += 1;
        options.onReject?.({ reason: decoded.reason, detail: decoded.detail, deviceId: decoded.deviceId });
      }
      return;
    }
    const { message } = decoded;
    if (message.type !== 'telemetry' && message.type !== 'breach') return;
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
    handleMessage,
    flush,
    buffered: () => buffer.length,
    stats: () => ({ ...counters }),
    close: () => { flush(); },
  };
}
