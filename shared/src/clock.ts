/**
 * Time and randomness, injected so tests and simulated devices control them [STYLE 2].
 * The agent's own timers (heartbeats, reconnect backoff, windows, log throttling) and the
 * server's scheduler both take this clock; a virtual clock (simulators/) runs either on
 * scenario time. Sockets are not on it: mqtt.js keeps its keepalive on real time, which is
 * what the broker measures.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque timer handle; only ever passed back to the clock that made it. */
export type TimerHandle = object;

/** Uniform random number in [0, 1). */
export type RandomSource = () => number;

/** The process clock. Timers are unref'd so a forgotten link never keeps a process alive. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle: TimerHandle): void => {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});
