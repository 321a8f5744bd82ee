/**
 * Bounds concurrent downloads per server, fairly: at most `max` devices hold a slot; others
 * queue in arrival order and are told to come back (`busy` + `retryAfterMs`) [EF-PROTO 6.4].
 * A freed slot goes to the head of the queue, not to whichever device happens to ask first,
 * so a slow device is never starved by faster ones asking more often.
 *
 * Slots are not tied to transfers (the chunk protocol is stateless per request): a device
 * holds its slot while it keeps asking, and loses it after `idleMs` of silence or when its
 * deployment leaves the download phase (`release`).
 *
 * The wait told to a queued device is a prediction, not a constant: from how long slots
 * have been held so far (a moving average) and when each active slot began, the time until
 * as many slots have freed as there are devices ahead of it. A fixed wait either brings
 * devices back long before a slot frees (each visit costs a request and a nack) or leaves
 * freed slots idle; with 1,000 devices fetching 10 MB the fixed 500 ms meant ~20 visits per
 * queued device. Pure: time comes from the caller.
 */

export interface DownloadSlotsOptions {
  /** Devices downloading at once. Default 64. */
  readonly max?: number;
  /** A slot or queue place unused this long is freed, in ms. Default 5000. */
  readonly idleMs?: number;
  /** Wait told to a queued device per round of slots before any slot has been released, in ms. Default 500. */
  readonly retryAfterMs?: number;
  /** Shortest wait ever told, in ms. Default 100. */
  readonly minRetryMs?: number;
  /** Longest wait ever told, in ms. Default 30000. */
  readonly maxRetryMs?: number;
}

export interface DownloadSlots {
  /** null: the device holds a slot (now or already); otherwise the ms it should wait. */
  acquire(deviceId: string, now: number): number | null;
  /** Frees the device's slot or queue place; `now` measures how long the slot was held. */
  release(deviceId: string, now: number): void;
  stats(): {
    readonly active: number;
    readonly queued: number;
    readonly busyReplies: number;
    readonly meanHoldMs: number | null;
  };
}

interface Held {
  readonly since: number;
  last: number;
}
interface Waiting {
  at: number;
  waitMs: number;
}

/** Weight of the newest hold time in the moving average. */
const HOLD_EWMA_WEIGHT = 0.2;

export function createDownloadSlots(options: DownloadSlotsOptions = {}): DownloadSlots {
  const max = options.max ?? 64;
  const idleMs = options.idleMs ?? 5_000;
  const baseRetry = options.retryAfterMs ?? 500;
  const minRetry = options.minRetryMs ?? 100;
  const maxRetry = options.maxRetryMs ?? 30_000;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`download slots must be a positive integer, got ${max}`);
  if (!(minRetry > 0 && minRetry <= maxRetry))
    throw new RangeError(`retry bounds must satisfy 0 < min (${minRetry}) ≤ max (${maxRetry})`);
  const active = new Map<string, Held>();
  // Queue in arrival order (Map keeps insertion order; re-setting a key keeps its place).
  const queue = new Map<string, Waiting>();
  let busyReplies = 0;
  let meanHoldMs: number | null = null;

  function noteHold(held: Held, end: number): void {
    const hold = Math.max(0, end - held.since);
    meanHoldMs = meanHoldMs === null ? hold : meanHoldMs + HOLD_EWMA_WEIGHT * (hold - meanHoldMs);
  }

  function expire(now: number): void {
    for (const [id, held] of active) {
      if (now - held.last < idleMs) continue;
      active.delete(id);
      noteHold(held, held.last);
    }
    // A queued device comes back after its wait; one silent well past it has gone.
    for (const [id, w] of queue) if (now - w.at >= idleMs + 2 * w.waitMs) queue.delete(id);
  }

  const clamp = (ms: number): number => Math.round(Math.min(maxRetry, Math.max(minRetry, ms)));

  /**
   * Predicted ms until the device at queue `position` finds a slot: `free` slots are already
   * waiting for the devices at the head of the queue, so `position - free` active slots must
   * free before its turn, each expected `meanHoldMs` after it began. Never more than one
   * mean hold: a wait that proves too long leaves a slot idle (and early estimates, made
   * while every slot starts at once, run long), one too short only costs a request.
   */
  function predictWait(position: number, free: number, now: number): number {
    if (meanHoldMs === null) return clamp(baseRetry * (1 + Math.floor(position / max)));
    const hold = meanHoldMs;
    const frees = [...active.values()].map((h) => h.since + hold).sort((a, b) => a - b);
    const next = frees[position - free];
    return clamp(next === undefined ? hold : Math.min(hold, next - now));
  }

  return {
    acquire(deviceId, now) {
      const held = active.get(deviceId);
      if (held) {
        held.last = now;
        return null;
      }
      expire(now);
      const free = max - active.size;
      let position = 0;
      for (const id of queue.keys()) {
        if (id === deviceId) break;
        position += 1;
      }
      const queued = queue.has(deviceId);
      if (free > 0 && (queued ? position < free : queue.size < free)) {
        queue.delete(deviceId);
        active.set(deviceId, { since: now, last: now });
        return null;
      }
      if (!queued) position = queue.size;
      const waitMs = predictWait(position, free, now);
      queue.set(deviceId, { at: now, waitMs });
      busyReplies += 1;
      return waitMs;
    },
    release(deviceId, now) {
      const held = active.get(deviceId);
      if (held) noteHold(held, now);
      active.delete(deviceId);
      queue.delete(deviceId);
    },
    stats: () => ({
      active: active.size,
      queued: queue.size,
      busyReplies,
      meanHoldMs: meanHoldMs === null ? null : Math.round(meanHoldMs),
    }),
  };
}
