/**
 * Figures of the closed loop on real measurements, from the windows the agents sent (pure):
 * the p95 of a phase, the budget an operator would set from the first minute, and the latency
 * predictor's error on this class before and after the loop's correction.
 */

/** The part of a stored window these figures read. */
export interface WindowFigure {
  readonly deviceId: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly modelSha: string | null;
  readonly p95Ms: number | null;
  readonly inferences: number;
}

/** Nearest-rank quantile (0..1) of `values`; null when empty. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Window p95s (ms) of windows wholly inside [from, to), optionally of one variant only. */
export function windowP95s(windows: readonly WindowFigure[], from: number, to: number, modelSha?: string): number[] {
  return windows
    .filter((w) => w.windowStart >= from && w.windowEnd <= to && w.inferences > 0 && w.p95Ms !== null)
    .filter((w) => modelSha === undefined || w.modelSha === modelSha)
    .map((w) => w.p95Ms as number);
}

/** A phase's latency: the median window p95 (what the loop's ratio uses) and the spread of window p95s. */
export interface PhaseLatency {
  readonly windows: number;
  readonly medianP95Ms: number | null;
  readonly p10P95Ms: number | null;
  readonly p90P95Ms: number | null;
}

export function phaseLatency(p95s: readonly number[]): PhaseLatency {
  return {
    windows: p95s.length,
    medianP95Ms: quantile(p95s, 0.5),
    p10P95Ms: quantile(p95s, 0.1),
    p90P95Ms: quantile(p95s, 0.9),
  };
}

/**
 * The class budget from the baseline minute: `factor` × the 90th percentile of its window p95s.
 * The upper tail rather than the median, because a device judges every window and a shared
 * host's noise alone lifts some windows well above the median; null without windows.
 */
export function budgetFromBaseline(p95s: readonly number[], factor = 1.5): number | null {
  const tail = quantile(p95s, 0.9);
  return tail === null ? null : Math.round(tail * factor * 1000) / 1000;
}

/** Relative error of a prediction against a measurement: (predicted − measured) / measured. */
export function relativeError(predictedMs: number, measuredMs: number): number {
  return (predictedMs - measuredMs) / measuredMs;
}

/**
 * The predictor's error on one variant in one phase: the planner's prediction (host p95 × class
 * factor) as it is, corrected by the ratio learned while the class was healthy (baseline measured
 * ÷ predicted on the variant serving then), and corrected by the ratio the loop acted on (measured
 * ÷ predicted under the quota). Errors are relative: (predicted − measured) / measured.
 */
export interface PredictorError {
  readonly recipe: string;
  readonly phase: string;
  readonly measuredP95Ms: number;
  readonly predictedP95Ms: number;
  readonly uncorrectedError: number;
  readonly healthyRatio: number | null;
  readonly healthyError: number | null;
  readonly breachRatio: number | null;
  readonly breachError: number | null;
}

export function predictorError(
  recipe: string,
  phase: string,
  predictedP95Ms: number,
  measuredP95Ms: number,
  ratios: { readonly healthy: number | null; readonly breach: number | null },
): PredictorError {
  const corrected = (r: number | null): number | null =>
    r === null ? null : relativeError(predictedP95Ms * r, measuredP95Ms);
  return {
    recipe,
    phase,
    measuredP95Ms,
    predictedP95Ms,
    uncorrectedError: relativeError(predictedP95Ms, measuredP95Ms),
    healthyRatio: ratios.healthy,
    healthyError: corrected(ratios.healthy),
    breachRatio: ratios.breach,
    breachError: corrected(ratios.breach),
  };
}
