/**
 * A clock for server tests that call the services themselves: `now()` is real time, and the
 * timers the server sets (its scheduler's tasks, telemetry batch deadlines) wait until the
 * test runs them with `runDue()`, so no rollout evaluation, sweep or control tick happens
 * behind the test's back.
 */
import { systemClock, type Clock, type TimerHandle } from '@edgefleet/shared';

export interface HeldClock extends Clock {
  /** Runs every held timer that is due by now, in due order; returns how many ran. */
  runDue(): number;
  /** Timers waiting. */
  pending(): number;
}

/** `now`: the time it tells (default real time). */
export function createHeldClock(now: () => number = () => systemClock.now()): HeldClock {
  const timers = new Map<object, { at: number; fn: () => void }>();
  return {
    now,
    setTimeout(fn, ms): TimerHandle {
      const handle = {};
      timers.set(handle, { at: now() + ms, fn });
      return handle;
    },
    clearTimeout(handle) {
      timers.delete(handle);
    },
    runDue() {
      const at = now();
      const due = [...timers.entries()].filter(([, t]) => t.at <= at).sort((a, b) => a[1].at - b[1].at);
      for (const [handle, t] of due) {
        timers.delete(handle);
        t.fn();
      }
      return due.length;
    },
    pending: () => timers.size,
  };
}

/** Real timers, but a `now` the test chooses: for services whose stamps a test compares. */
export function clockAt(now: () => number): Clock {
  return { ...systemClock, now };
}
