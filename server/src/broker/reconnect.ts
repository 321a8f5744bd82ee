/**
 * Reconnecting to a broker that is down: wait longer after each failed attempt (exponential,
 * with jitter and a cap, as Kubernetes' ListWatch does), and tell the operator once that the
 * broker is gone and once that it is back, instead of one ECONNREFUSED line per second.
 * Pure bookkeeping: the MQTT client calls these hooks, time and randomness are injected.
 */
import type { Logger } from '../log/logger.js';

/** How the wait between reconnect attempts grows. */
export interface ReconnectBackoff {
  /** Wait before the first retry, ms. Default 1000. */
  readonly initialMs: number;
  /** Longest wait, ms. Default 30000. */
  readonly maxMs: number;
  /** Growth per failed attempt. Default 2. */
  readonly factor: number;
  /** ± share of the wait drawn at random, so many servers do not retry in step. Default 0.2. */
  readonly jitter: number;
}

export const DEFAULT_RECONNECT_BACKOFF: ReconnectBackoff = Object.freeze({
  initialMs: 1000,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.2,
});

/** The wait before retry number `attempt` (0 = the first retry), within [initial, max] after jitter. */
export function reconnectDelayMs(attempt: number, backoff: ReconnectBackoff, random: () => number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, attempt));
  const jittered = base * (1 + backoff.jitter * (2 * random() - 1));
  return Math.round(Math.min(backoff.maxMs, Math.max(backoff.initialMs, jittered)));
}

/** What the client reports; each hook says what the client should do next where that matters. */
export interface OutageTracker {
  /** A connection (first or again) is up. */
  connected(): void;
  /** The connection closed or an attempt failed: returns the wait before the next attempt, ms. */
  closed(): number;
  /** An error from the client (ECONNREFUSED, a refused CONNACK…): logged once per outage. */
  error(err: Error): void;
  /** True while the broker is unreachable. */
  readonly down: boolean;
}

export interface OutageTrackerOptions {
  readonly logger: Logger;
  /** The broker's URL without credentials, for the log lines. */
  readonly url: string;
  readonly now: () => number;
  readonly random?: () => number;
  readonly backoff?: ReconnectBackoff;
}

/**
 * One outage is: the first failure (logged at warn with its cause and the retry policy), any
 * number of silent retries (debug), and the reconnect (logged at info with the outage's length
 * and the number of attempts).
 */
export function createOutageTracker(o: OutageTrackerOptions): OutageTracker {
  const backoff = o.backoff ?? DEFAULT_RECONNECT_BACKOFF;
  const random = o.random ?? Math.random;
  const log = o.logger;
  let since: number | null = null;
  let attempts = 0;
  let reported = false;

  function begin(cause: string): void {
    if (since === null) since = o.now();
    if (reported) return;
    reported = true;
    log.warn(
      { url: o.url, cause, retryMs: { first: backoff.initialMs, max: backoff.maxMs } },
      `MQTT broker ${o.url} unreachable (${cause}); retrying with backoff up to ${backoff.maxMs / 1000} s, ` +
        'logged again when it is back',
    );
  }

  return {
    get down() {
      return since !== null;
    },
    connected() {
      if (since !== null) {
        const seconds = ((o.now() - since) / 1000).toFixed(1);
        log.info(
          { url: o.url, outageMs: o.now() - since, attempts },
          `MQTT broker ${o.url} reachable again after ${seconds} s (${attempts} reconnect attempts)`,
        );
      }
      since = null;
      attempts = 0;
      reported = false;
    },
    closed() {
      begin('connection lost');
      const wait = reconnectDelayMs(attempts, backoff, random);
      attempts += 1;
      log.debug({ url: o.url, attempt: attempts, waitMs: wait }, 'MQTT reconnect scheduled');
      return wait;
    },
    error(err) {
      if (reported) log.debug({ url: o.url, err: err.message }, 'MQTT broker still unreachable');
      else begin(err.message);
    },
  };
}
