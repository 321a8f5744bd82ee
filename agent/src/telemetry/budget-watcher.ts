/**
 * The local budget watcher [EF-PROTO 8.4]: per budget of the serving manifest, the last n
 * windows; when k of them break it a breach episode opens (one `breach` event), when none
 * of the last n break it any more the episode closes (one `recovered`). Pure: windows in,
 * events out; the caller publishes them.
 */
import {
  PROTOCOL_VERSION,
  WATCHED_BUDGETS,
  type Breach,
  type TelemetryWindow,
  type WatchedBudget,
} from '@edgefleet/shared/device';

/** The budgets the watcher understands, as the manifest carries them (other keys are ignored). */
export type WatchedBudgets = Partial<Record<WatchedBudget, number>>;

export interface BudgetWatcherOptions {
  /** Breaking windows among the last n that open an episode. Default 3. */
  readonly k?: number;
  /** Windows considered. Default 5. */
  readonly n?: number;
}

export interface BudgetWatcher {
  /** Checks one window against the budgets; returns the breach events to publish (often none). */
  observe(window: TelemetryWindow, budgets: WatchedBudgets | null): Breach[];
  /** Budgets in an open episode now. */
  breached(): WatchedBudget[];
  /** Forgets every history (a new model starts with a clean slate). */
  reset(): void;
}

/** The window's figure for one budget, or null when the window has none (it then breaks nothing). */
export function measureBudget(window: TelemetryWindow, budget: WatchedBudget): number | null {
  switch (budget) {
    case 'latencyP95Ms':
      return window.latencyMs?.p95 ?? null;
    case 'powerW':
      return window.power?.watts ?? null;
    case 'energyPerInferenceMj':
      return window.power?.energyPerInferenceMj ?? null;
    case 'minAccuracy':
      return window.accuracy.goldenAccuracy ?? null;
  }
}

/** True when `value` is outside `limit` for this budget's direction. */
export function breaks(budget: WatchedBudget, value: number, limit: number): boolean {
  return WATCHED_BUDGETS[budget].direction === 'max' ? value > limit : value < limit;
}

interface Sample {
  readonly seq: number;
  readonly value: number | null;
  readonly broke: boolean;
  readonly throttled: boolean;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function createBudgetWatcher(options: BudgetWatcherOptions = {}): BudgetWatcher {
  const k = options.k ?? 3;
  const n = options.n ?? 5;
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < k)
    throw new RangeError(`budget watcher needs 1 ≤ k ≤ n, got k=${k} n=${n}`);
  const history = new Map<WatchedBudget, Sample[]>();
  const open = new Set<WatchedBudget>();

  function event(
    window: TelemetryWindow,
    budget: WatchedBudget,
    limit: number,
    samples: readonly Sample[],
    state: Breach['state'],
  ): Breach {
    const broke = samples.filter((s) => s.broke);
    const values = (state === 'breached' ? broke : samples).map((s) => s.value).filter((v): v is number => v !== null);
    return {
      type: 'breach',
      v: PROTOCOL_VERSION,
      deviceId: window.deviceId,
      deviceClass: window.deviceClass,
      budget,
      state,
      measured: values.length > 0 ? median(values) : limit,
      limit,
      unit: WATCHED_BUDGETS[budget].unit,
      breachedWindows: broke.length,
      k,
      n,
      windowSeqs: samples.map((s) => s.seq),
      model: window.model,
      throttled: samples.some((s) => s.throttled),
      sentAt: window.sentAt,
    };
  }

  function observe(window: TelemetryWindow, budgets: WatchedBudgets | null): Breach[] {
    const out: Breach[] = [];
    for (const budget of Object.keys(WATCHED_BUDGETS) as WatchedBudget[]) {
      const limit = budgets?.[budget];
      if (limit === undefined || !Number.isFinite(limit)) {
        // A budget that disappeared (new manifest) ends its history without an event.
        history.delete(budget);
        open.delete(budget);
        continue;
      }
      const value = measureBudget(window, budget);
      const samples = history.get(budget) ?? [];
      samples.push({
        seq: window.seq,
        value,
        broke: value !== null && breaks(budget, value, limit),
        throttled: window.thermal.throttled === true,
      });
      if (samples.length > n) samples.shift();
      history.set(budget, samples);
      const broken = samples.filter((s) => s.broke).length;
      if (!open.has(budget) && broken >= k) {
        open.add(budget);
        out.push(event(window, budget, limit, samples, 'breached'));
      } else if (open.has(budget) && broken === 0 && samples.length >= n) {
        open.delete(budget);
        out.push(event(window, budget, limit, samples, 'recovered'));
      }
    }
    return out;
  }

  return {
    observe,
    breached: () => [...open],
    reset: () => {
      history.clear();
      open.clear();
    },
  };
}
