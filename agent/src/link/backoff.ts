/**
 * Reconnect backoff: exponential with jitter and a cap [STYLE 7]. mqtt.js only knows a fixed
 * `reconnectPeriod`, so the link sets it to 0 and asks this module how long to wait.
 */
import type { RandomSource } from '@edgefleet/shared/device';

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. Default 500. */
  readonly initialMs: number;
  /** Growth per failed attempt. Default 2. */
  readonly factor: number;
  /** Largest delay, in ms, however many attempts failed. Default 30 000. */
  readonly maxMs: number;
  /**
   * Share of the delay that is random, 0–1. Default 0.5 ("equal jitter"): the wait is
   * between half and all of the exponential step, so a farm that lost its broker at once
   * does not reconnect in lock-step, yet no device retries immediately.
   */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, factor: 2, maxMs: 30_000, jitter: 0.5 });

/** Checks a policy once, at construction; a bad policy is a programmer error. */
export function validateBackoff(policy: BackoffPolicy): BackoffPolicy {
  const { initialMs, factor, maxMs, jitter } = policy;
  if (!(initialMs > 0) || !(factor >= 1) || !(maxMs >= initialMs) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `invalid backoff policy ${JSON.stringify(policy)}: need initialMs > 0, factor >= 1, maxMs >= initialMs, 0 <= ` +
        `jitter <= 1`,
    );
  }
  return Object.freeze({ ...policy });
}

/**
 * Delay before retry number `attempt` (0 = the first retry after a loss). Pure: the same
 * attempt and random value always give the same delay.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: RandomSource): number {
  const step = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(step * (1 - policy.jitter) + step * policy.jitter * r);
}
