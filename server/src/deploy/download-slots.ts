/**
 * Bounds concurrent downloads per server, fairly: at most `max` devices hold a slot; others
 * queue in arrival order and are told to come back (`busy` + `retryAfterMs`) [EF-PROTO 6.4].
 * A freed slot goes to the head of the queue, not to whichever device happens to ask first,
 * so a slow device is never starved by faster ones asking more often.
 *
 * Slots are not tied to transfers (the chunk protocol is stateless per request): a device
 * holds its slot while it keeps asking, and loses it after `idleMs` of silence or when its
 * deployment leaves the download phase (`release`).
 */

export interface DownloadSlotsOptions {
  /** Devices downloading at once. Default 64. */
  readonly max?: number;
  /** A slot or queue place unused this long is freed, in ms. Default 5000. */
  readonly idleMs?: number;
  /** Base wait told to a queued device, in ms; grows with its queue position. Default 500. */
  readonly retryAfterMs?: number;
}

export interface DownloadSlots {
  /** null: the device holds a slot (now or already); otherwise the ms it should wait. */
  acquire(deviceId: string, now: number): number | null;
  release(deviceId: string): void;
  stats(): { readonly active: number; readonly queued: number; readonly busyReplies: number };
}

export function createDownloadSlots(options: DownloadSlotsOptions = {}): DownloadSlots {
  const max = options.max ?? 64;
  const idleMs = options.idleMs ?? 5_000;
  const baseRetry = options.retryAfterMs ?? 500;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`download slots must be a positive integer, got ${max}`);
  const active = new Map<string, number>();
  // Queue in arrival order; the value is the last time the device asked (stale places expire).
  const queue = new Map<string, number>();
  let busyReplies = 0;

  function expire(now: number): void {
    for (const [id, at] of active) if (now - at >= idleMs) active.delete(id);
    // A queued device comes back after at most its retry hint; one silent far longer has gone.
    const queueTtl = idleMs + baseRetry * (1 + Math.ceil(queue.size / max)) * 2;
    for (const [id, at] of queue) if (now - at >= queueTtl) queue.delete(id);
  }

  return {
    acquire(deviceId, now) {
      if (active.has(deviceId)) {
        active.set(deviceId, now);
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
        active.set(deviceId, now);
        return null;
      }
      if (!queued) position = queue.size;
      // Map.set on an existing key keeps its place: the device keeps its turn.
      queue.set(deviceId, now);
      busyReplies += 1;
      return baseRetry * (1 + Math.floor(position / max));
    },
    release(deviceId) {
      active.delete(deviceId);
      queue.delete(deviceId);
    },
    stats: () => ({ active: active.size, queued: queue.size, busyReplies }),
  };
}
