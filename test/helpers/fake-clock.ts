/**
 * A manual clock for the agent's injected timers: nothing fires until `advance()`, and every
 * scheduled delay is recorded, so schedules can be asserted exactly.
 */
import type { Clock, TimerHandle } from '@edgefleet/shared';

export interface FakeClock extends Clock {
  /** Every delay passed to setTimeout, in order. */
  readonly scheduled: number[];
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void;
  /** Fires the earliest pending timer (moving time to it); false when none is pending. */
  fireNext(): boolean;
  pending(): number;
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const scheduled: number[] = [];
  const earliest = () => [...timers.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
  return {
    scheduled,
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      scheduled.push(ms);
      timers.set(id, { at: now + ms, fn });
      return { id } as TimerHandle;
    },
    clearTimeout: (handle) => {
      timers.delete((handle as { id: number }).id);
    },
    advance: (ms) => {
      const until = now + ms;
      for (let e = earliest(); e && e[1].at <= until; e = earliest()) {
        timers.delete(e[0]);
        now = e[1].at;
        e[1].fn();
      }
      now = until;
    },
    fireNext: () => {
      const e = earliest();
      if (!e) return false;
      timers.delete(e[0]);
      now = Math.max(now, e[1].at);
      e[1].fn();
      return true;
    },
    pending: () => timers.size,
  };
}
