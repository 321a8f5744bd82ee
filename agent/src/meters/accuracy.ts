/**
 * Accuracy on the device itself: the serving manifest's golden set, run when a model starts
 * serving and then on a schedule, scored like the swap's smoke test. Runs go straight to
 * the model, not through the serving runtime, so they never count as live inferences.
 */
import type { GoldenSet } from '@edgefleet/shared/device';
import type { Clock } from '@edgefleet/shared/device';
import type { FloatTensor } from '../runtime/ort.js';
import { goldenFeeds, scoreGolden } from '../swap/golden.js';

/** The serving model as far as golden runs need it. */
export interface GoldenTarget {
  readonly sha256: string;
  readonly golden: GoldenSet;
  readonly outputNames: readonly string[];
  run(feeds: Readonly<Record<string, FloatTensor>>): Promise<Readonly<Record<string, FloatTensor>>>;
}

export interface GoldenResult {
  readonly sha256: string;
  readonly accuracy: number;
  readonly at: number;
}

export interface GoldenRunnerOptions {
  readonly clock: Clock;
  /** The serving model and its golden set, or null (nothing to run). */
  readonly target: () => GoldenTarget | null;
  /** Re-run interval, ms; 0 runs only when a model starts serving. Default 600 000 (10 min). */
  readonly intervalMs?: number;
  /** Told about a run that failed (the previous figure is kept). */
  readonly onError?: (err: unknown) => void;
}

export interface GoldenRunner {
  /** Starts a run if the serving model changed or the interval passed; resolves when it is done (or at once). */
  maybeRun(): Promise<void>;
  /** The last result for the model serving now (undefined before the first run). */
  latest(): GoldenResult | undefined;
  runs(): number;
}

export function createGoldenRunner(options: GoldenRunnerOptions): GoldenRunner {
  const intervalMs = options.intervalMs ?? 600_000;
  let last: GoldenResult | undefined;
  let running: Promise<void> | null = null;
  let runs = 0;

  async function run(target: GoldenTarget): Promise<void> {
    try {
      const outputs = await target.run(goldenFeeds(target.golden));
      const score = scoreGolden(target.golden, outputs, target.outputNames);
      last = { sha256: target.sha256, accuracy: score.finite ? score.accuracy : 0, at: options.clock.now() };
      runs += 1;
    } catch (err: unknown) {
      options.onError?.(err);
    }
  }

  function maybeRun(): Promise<void> {
    if (running) return running;
    const target = options.target();
    if (!target) return Promise.resolve();
    const due = last?.sha256 !== target.sha256 || (intervalMs > 0 && options.clock.now() - last.at >= intervalMs);
    if (!due) return Promise.resolve();
    running = run(target).finally(() => {
      running = null;
    });
    return running;
  }

  return {
    maybeRun,
    latest: () => {
      const target = options.target();
      return last && target && last.sha256 === target.sha256 ? last : undefined;
    },
    runs: () => runs,
  };
}
