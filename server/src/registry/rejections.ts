import { REJECT_REASONS, type RejectReason } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';

/** One refused inbound message. */
export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
  /** Device the message claimed to come from (from its topic), when known. */
  readonly deviceId: string | null;
  /** MQTT client id of the publisher, when known (embedded broker only). */
  readonly clientId?: string | null;
}

export interface RejectionCounter {
  record(rejection: Rejection): void;
  /** Count per reason since start; every reason is present. */
  counts(): Readonly<Record<RejectReason, number>>;
  total(): number;
}

export interface RejectionCounterOptions {
  readonly logger: Logger;
  /** Injected clock, ms. */
  readonly now: () => number;
  /** At most one log line per source in this window, ms. Default 60000. */
  readonly logIntervalMs?: number;
}

/**
 * Counts rejected messages by reason and logs each source (device, else client, else
 * "unknown") at most once per interval, so a misbehaving device cannot flood the log
 * [EF-PROTO 1]. The suppressed count is reported with the next line.
 */
export function createRejectionCounter(options: RejectionCounterOptions): RejectionCounter {
  const interval = options.logIntervalMs ?? 60_000;
  const log = options.logger;
  const counts = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  return {
    record(rejection) {
      counts[rejection.reason] += 1;
      const source = rejection.deviceId ?? rejection.clientId ?? 'unknown';
      const now = options.now();
      const entry = lastLogged.get(source);
      if (entry && now - entry.at < interval) {
        entry.suppressed += 1;
        return;
      }
      // Forget old sources so a stream of random ids cannot grow the map without bound.
      if (lastLogged.size > 10_000) {
        for (const [key, value] of lastLogged) if (now - value.at >= interval) lastLogged.delete(key);
      }
      log.warn(
        {
          reason: rejection.reason,
          deviceId: rejection.deviceId,
          clientId: rejection.clientId ?? null,
          suppressed: entry?.suppressed ?? 0,
          detail: rejection.detail.slice(0, 500),
        },
        'rejected inbound message',
      );
      lastLogged.set(source, { at: now, suppressed: 0 });
    },
    counts: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
  };
}
