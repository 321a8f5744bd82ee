/**
 * Budget status from stored windows, per device and per class: pure functions over rows, so
 * the control loop's `observe` and the admin API share one definition of "breaching". A
 * device breaches a budget when k of its last n windows break it (the agent's rule
 * [EF-PROTO 8.4]); a class reports, per budget, the fraction of its active devices breaching.
 */
import { WATCHED_BUDGETS, type Budgets, type WatchedBudget } from '@edgefleet/shared';
import type { WindowRow } from '../store/telemetry.js';

/** Limits in the units of telemetry (ms, W, mJ, ratio 0..1); absent ones are not checked. */
export type TelemetryBudgets = Partial<Record<WatchedBudget, number>>;

/** Where the limits came from: the planner's class, the agents' manifests (via breach events), or nowhere. */
export type BudgetSource = 'class' | 'manifest' | 'none';

/**
 * A planner class budget (shared/src/budgets.ts) in telemetry units; size and relative-accuracy budgets have no
 * telemetry figure.
 */
export function budgetsFromClass(b: Budgets): TelemetryBudgets {
  const out: { -readonly [K in WatchedBudget]?: number } = {};
  if (b.maxP95LatencyMs !== undefined) out.latencyP95Ms = b.maxP95LatencyMs;
  if (b.maxAvgPowerW !== undefined) out.powerW = b.maxAvgPowerW;
  if (b.maxEnergyPerInferenceMj !== undefined) out.energyPerInferenceMj = b.maxEnergyPerInferenceMj;
  if (b.minAccuracyPct !== undefined) out.minAccuracy = b.minAccuracyPct / 100;
  return out;
}

/** The window's figure for a budget, or null (a window without it breaks nothing). */
export function figureOf(row: WindowRow, budget: WatchedBudget): number | null {
  switch (budget) {
    case 'latencyP95Ms':
      return row.p95Ms;
    case 'powerW':
      return row.powerW;
    case 'energyPerInferenceMj':
      return row.energyMj;
    case 'minAccuracy':
      return row.goldenAccuracy;
  }
}

function isBreaking(budget: WatchedBudget, value: number, limit: number): boolean {
  return WATCHED_BUDGETS[budget].direction === 'max' ? value > limit : value < limit;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export interface BudgetCheck {
  readonly budget: WatchedBudget;
  readonly limit: number;
  readonly unit: (typeof WATCHED_BUDGETS)[WatchedBudget]['unit'];
  /** Median of the figure over the windows considered (null: no window had it). */
  readonly measured: number | null;
  /** Windows considered that had the figure, and how many broke the limit. */
  readonly windows: number;
  readonly breachedWindows: number;
  readonly breached: boolean;
}

export interface StatusRule {
  /** Breaking windows among the last n that make a device breach. Default 3. */
  readonly k?: number;
  /** Windows considered per device. Default 5. */
  readonly n?: number;
}

/** Checks a device's recent windows (oldest first; only the last n are used). */
export function checkBudgets(
  windows: readonly WindowRow[],
  budgets: TelemetryBudgets,
  rule: StatusRule = {},
): BudgetCheck[] {
  const k = rule.k ?? 3;
  const n = rule.n ?? 5;
  const recent = windows.slice(-n);
  const checks: BudgetCheck[] = [];
  for (const budget of Object.keys(WATCHED_BUDGETS) as WatchedBudget[]) {
    const limit = budgets[budget];
    if (limit === undefined) continue;
    const values = recent.map((w) => figureOf(w, budget)).filter((v): v is number => v !== null);
    const broke = values.filter((v) => isBreaking(budget, v, limit)).length;
    checks.push({
      budget,
      limit,
      unit: WATCHED_BUDGETS[budget].unit,
      measured: median(values),
      windows: values.length,
      breachedWindows: broke,
      breached: broke >= k,
    });
  }
  return checks;
}

export interface DeviceBudgetStatus {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly lastWindowEnd: number | null;
  readonly modelSha: string | null;
  readonly variantId: string | null;
  /** Any of the windows considered reported thermal throttling (a cohort hint). */
  readonly throttled: boolean;
  /** Mean p95 of the windows considered, ms (the control loop divides it by the predicted latency). */
  readonly meanP95Ms: number | null;
  readonly checks: readonly BudgetCheck[];
  readonly breached: boolean;
}

export function deviceStatus(
  deviceId: string,
  deviceClass: string,
  windows: readonly WindowRow[],
  budgets: TelemetryBudgets,
  rule: StatusRule = {},
): DeviceBudgetStatus {
  const recent = windows.slice(-(rule.n ?? 5));
  const last = recent.at(-1);
  const p95s = recent.map((w) => w.p95Ms).filter((v): v is number => v !== null);
  const checks = checkBudgets(recent, budgets, rule);
  return {
    deviceId,
    deviceClass,
    lastWindowEnd: last?.windowEnd ?? null,
    modelSha: last?.modelSha ?? null,
    variantId: last?.variantId ?? null,
    throttled: recent.some((w) => w.throttled === true),
    meanP95Ms: p95s.length > 0 ? p95s.reduce((a, b) => a + b, 0) / p95s.length : null,
    checks,
    breached: checks.some((c) => c.breached),
  };
}

export interface ClassBudgetSummary {
  readonly budget: WatchedBudget;
  readonly limit: number;
  /** Active devices with a figure for this budget, and how many of them breach it. */
  readonly devices: number;
  readonly breaching: number;
  /** breaching ÷ devices (0 when no device has the figure). */
  readonly fraction: number;
  /** Median over devices of their measured figure. */
  readonly measured: number | null;
}

export interface ClassBudgetStatus {
  readonly deviceClass: string;
  readonly budgets: TelemetryBudgets;
  readonly budgetSource: BudgetSource;
  /** Devices with a window inside the activity horizon. */
  readonly activeDevices: number;
  readonly breachingDevices: number;
  readonly throttledDevices: number;
  readonly summary: readonly ClassBudgetSummary[];
  readonly devices: readonly DeviceBudgetStatus[];
}

/** Class status from per-device windows (each device's list oldest first). */
export function classStatus(
  deviceClass: string,
  byDevice: ReadonlyMap<string, readonly WindowRow[]>,
  budgets: TelemetryBudgets,
  budgetSource: BudgetSource,
  rule: StatusRule = {},
): ClassBudgetStatus {
  const devices = [...byDevice.entries()].map(([id, rows]) => deviceStatus(id, deviceClass, rows, budgets, rule));
  const summary = (Object.keys(WATCHED_BUDGETS) as WatchedBudget[]).flatMap((budget): ClassBudgetSummary[] => {
    const limit = budgets[budget];
    if (limit === undefined) return [];
    const checks = devices
      .map((d) => d.checks.find((c) => c.budget === budget))
      .filter((c): c is BudgetCheck => c !== undefined && c.windows > 0);
    const breaching = checks.filter((c) => c.breached).length;
    return [
      {
        budget,
        limit,
        devices: checks.length,
        breaching,
        fraction: checks.length > 0 ? breaching / checks.length : 0,
        measured: median(checks.map((c) => c.measured).filter((v): v is number => v !== null)),
      },
    ];
  });
  return {
    deviceClass,
    budgets,
    budgetSource,
    activeDevices: devices.length,
    breachingDevices: devices.filter((d) => d.breached).length,
    throttledDevices: devices.filter((d) => d.throttled).length,
    summary,
    devices,
  };
}
