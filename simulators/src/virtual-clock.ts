/**
 * A virtual clock for simulated devices and the server alike: `now()` is whatever the
 * scenario says, and timers fire only when the scenario advances time, in time order (ties in
 * the order they were set). It implements the agent's `Clock`, so the real agent link,
 * telemetry and outbox run on it unchanged; tens of virtual minutes pass in seconds and a
 * seeded scenario replays exactly.
 *
 * Only the code's own timers are virtual: sockets, MQTT keepalive and the broker run on real
 * time, which is why scenarios wait for the broker to settle between steps.
 */
import type { Clock, TimerHandle } from '@edgefleet/shared';

export interface VirtualClock extends Clock {
  /** Moves time to `to`, firing every timer due by then in order; timers set while firing run too if due. */
  advanceTo(to: number): void;
  /** Time of the earliest pending timer, or null when none is pending. */
  nextAt(): number | null;
  /** Timers pending. */
  pending(): number;
}

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
  cancelled: boolean;
}

const before = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.order < b.order);

/** A binary min-heap by (at, order): farms of thousands of devices each keep a few timers. */
function createTimerHeap() {
  const items: Timer[] = [];
  const swap = (i: number, j: number) => {
    const t = items[i] as Timer;
    items[i] = items[j] as Timer;
    items[j] = t;
  };
  return {
    size: () => items.length,
    peek: (): Timer | undefined => items[0],
    push(t: Timer): void {
      items.push(t);
      for (let i = items.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!before(items[i] as Timer, items[parent] as Timer)) break;
        swap(i, parent);
        i = parent;
      }
    },
    pop(): Timer | undefined {
      const top = items[0];
      const last = items.pop();
      if (items.length > 0 && last) {
        items[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < items.length && before(items[l] as Timer, items[m] as Timer)) m = l;
          if (r < items.length && before(items[r] as Timer, items[m] as Timer)) m = r;
          if (m === i) break;
          swap(i, m);
          i = m;
        }
      }
      return top;
    },
  };
}

/** A clock at `startAt` (ms since the epoch) that only moves when told to. */
export function createVirtualClock(startAt: number): VirtualClock {
  return clockOn({ now: startAt, order: 0 });
}

/**
 * Clocks that share one virtual time, each firing only its own timers when advanced. A
 * scenario gives the devices one and the server another, advances the devices' clock to `to`,
 * waits for the broker to settle, then advances the server's to the same `to`: the server's
 * scheduled work then sees the step's device traffic, and stamps what arrives meanwhile with
 * the step's time. Time never runs backwards: a clock advanced to where the other already
 * moved time fires its due timers at that time.
 */
export function createVirtualClocks(startAt: number, count: number): VirtualClock[] {
  const time = { now: startAt, order: 0 };
  return Array.from({ length: count }, () => clockOn(time));
}

function clockOn(time: { now: number; order: number }): VirtualClock {
  let live = 0;
  const heap = createTimerHeap();

  /** Drops cancelled timers from the top so `peek` shows the next live one. */
  function skipCancelled(): void {
    while (heap.peek()?.cancelled) heap.pop();
  }

  return Object.freeze({
    now: () => time.now,
    setTimeout(fn: () => void, ms: number): TimerHandle {
      const timer: Timer = {
        at: time.now + Math.max(0, Number.isFinite(ms) ? ms : 0),
        order: time.order++,
        fn,
        cancelled: false,
      };
      heap.push(timer);
      live += 1;
      return timer;
    },
    clearTimeout(handle: TimerHandle): void {
      const timer = handle as Timer;
      if (timer.cancelled) return;
      timer.cancelled = true;
      live -= 1;
    },
    advanceTo(to: number): void {
      if (to < time.now) throw new RangeError(`a virtual clock does not run backwards (now ${time.now}, asked ${to})`);
      for (skipCancelled(); (heap.peek()?.at ?? Infinity) <= to; skipCancelled()) {
        const timer = heap.pop() as Timer;
        timer.cancelled = true;
        live -= 1;
        time.now = Math.max(time.now, timer.at);
        timer.fn();
      }
      time.now = to;
    },
    nextAt(): number | null {
      skipCancelled();
      return heap.peek()?.at ?? null;
    },
    pending: () => live,
  });
}
