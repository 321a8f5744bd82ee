/**
 * Faults on one farm device: the schedule's effects as the device lives them. Gradual effects
 * (thermal throttling, a wrong int8 unit) are read when a window closes or an inference is
 * modelled, through `effects()`; state changes (network lost, process down) are timers at each
 * fault's start and end on the farm's clock, which call `onChange` with the new effects. A
 * clock-skew fault shows in the device's own clock view (`skewedClock`).
 */
import type { Clock } from '@edgefleet/agent';
import { effectsAt, type Fault, type FaultEffects } from './faults.js';

/** Longest delay Node's setTimeout honours (a longer one fires at once), ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DeviceFaults {
  /** Effects at the farm clock's now. */
  effects(): FaultEffects;
  /** Schedules the start/end timers; `onChange` sees the effects at each boundary. Call once. */
  start(onChange: (effects: FaultEffects) => void): void;
  /** Cancels the pending boundary timers. */
  stop(): void;
}

function targets(f: Fault, deviceId: string, deviceClass: string): boolean {
  if (f.target.deviceIds !== undefined && !f.target.deviceIds.includes(deviceId)) return false;
  return f.target.deviceClass === undefined || f.target.deviceClass === deviceClass;
}

/** The faults of `faults` that target this device, bound to the farm's clock. */
export function deviceFaults(
  faults: readonly Fault[],
  deviceId: string,
  deviceClass: string,
  clock: Clock,
): DeviceFaults {
  const mine = faults.filter((f) => targets(f, deviceId, deviceClass));
  const timers: ReturnType<Clock['setTimeout']>[] = [];
  const effects = (): FaultEffects => effectsAt(mine, deviceId, deviceClass, clock.now());
  return {
    effects,
    start(onChange) {
      const now = clock.now();
      const boundaries = new Set<number>();
      for (const f of mine) {
        boundaries.add(f.startAt);
        if (f.durationMs !== undefined) boundaries.add(f.startAt + f.durationMs);
      }
      for (const at of [...boundaries].sort((a, b) => a - b)) {
        if (at < now || at - now > MAX_TIMER_MS) continue;
        timers.push(clock.setTimeout(() => onChange(effects()), at - now));
      }
      // A fault already under way when the device starts applies at once.
      if (mine.some((f) => f.startAt < now)) onChange(effects());
    },
    stop() {
      for (const t of timers.splice(0)) clock.clearTimeout(t);
    },
  };
}

/**
 * The device's clock: the farm's, read `skewMs` ahead while a clock-skew fault lasts. Timers stay on the farm's time.
 */
export function skewedClock(base: Clock, faults: DeviceFaults): Clock {
  return Object.freeze({
    now: () => base.now() + faults.effects().skewMs,
    setTimeout: (fn: () => void, ms: number) => base.setTimeout(fn, ms),
    clearTimeout: (handle: ReturnType<Clock['setTimeout']>) => base.clearTimeout(handle),
  });
}
