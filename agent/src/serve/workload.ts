/**
 * Built-in synthetic workload for demos and simulation: runs the serving model at a steady
 * rate on rows of its own golden set with a little noise, so latency meters (issue 7) see
 * real inferences without any application on the device.
 */
import type { Logger } from 'pino';
import type { Clock, RandomSource, TimerHandle } from '@edgefleet/shared/device';
import type { FloatTensor } from '../runtime/ort.js';
import type { ServingRuntime } from '../runtime/serving.js';

export interface WorkloadOptions {
  readonly serving: ServingRuntime;
  /** Inferences per second; 0 disables. */
  readonly ratePerS: number;
  /** Rows to feed; the device passes one golden row of the serving model. Null: nothing to run yet. */
  readonly sample: () => Readonly<Record<string, FloatTensor>> | null;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Relative noise added to each value, 0–1. Default 0.01. */
  readonly noise?: number;
}

export interface Workload {
  stop(): void;
  stats(): { readonly runs: number; readonly errors: number; readonly skipped: number };
}

/** Starts the workload; one inference at a time (a slow model lowers the rate instead of queueing). */
export function startWorkload(options: WorkloadOptions): Workload {
  const counters = { runs: 0, errors: 0, skipped: 0 };
  const noise = options.noise ?? 0.01;
  let timer: TimerHandle | null = null;
  let stopped = false;
  let busy = false;
  const intervalMs = options.ratePerS > 0 ? 1000 / options.ratePerS : 0;

  function jitter(feeds: Readonly<Record<string, FloatTensor>>): Record<string, FloatTensor> {
    const out: Record<string, FloatTensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      out[name] = {
        dims: t.dims,
        data: t.data.map((x) => x + (options.random() * 2 - 1) * noise * (Math.abs(x) + 1e-3)),
      };
    }
    return out;
  }

  function tick(): void {
    timer = null;
    if (stopped) return;
    const feeds = options.sample();
    if (busy || !feeds || !options.serving.current()) {
      counters.skipped += 1;
    } else {
      busy = true;
      options.serving
        .infer(jitter(feeds))
        .then(() => {
          counters.runs += 1;
        })
        .catch((err: unknown) => {
          counters.errors += 1;
          options.logger.debug({ err }, 'synthetic inference failed');
        })
        .finally(() => {
          busy = false;
        });
    }
    timer = options.clock.setTimeout(tick, intervalMs);
  }

  if (intervalMs > 0) timer = options.clock.setTimeout(tick, intervalMs);
  return Object.freeze({
    stop: () => {
      stopped = true;
      if (timer) options.clock.clearTimeout(timer);
      timer = null;
    },
    stats: () => ({ ...counters }),
  });
}
