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
 * The latency predictor on one variant in one phase, against the p95 the agents measured:
 * - `batch1`: the planner's old basis, host p95 at batch 1 × class factor (the workload runs batch B);
 * - `predicted`: the planner's prediction at the class's workload batch, before any correction;
 * - `corrected`: that × the per-class ratio (measured ÷ predicted) the loop learned from measured
 *   windows of the variant serving before, in the same conditions: the healthy baseline for
 *   unthrottled phases, the breach under the quota for throttled ones. `correction` says which;
 *   `none` where no earlier ratio exists (the baseline is where the healthy one is learned).
 * Errors are relative: (predicted − measured) / measured.
 */
export interface PredictorError {
  readonly recipe: string;
  readonly phase: string;
  readonly measuredP95Ms: number;
  readonly batch1PredictedMs: number | null;
  readonly batch1Error: number | null;
  readonly predictedP95Ms: number;
  readonly error: number;
  readonly correction: 'none' | 'healthy' | 'breach';
  readonly ratio: number | null;
  readonly correctedP95Ms: number | null;
  readonly correctedError: number | null;
}

export interface PredictorInput {
  readonly recipe: string;
  readonly phase: string;
  readonly measuredP95Ms: number;
  /** Host p95 at batch 1 × class factor (null: not known). */
  readonly batch1PredictedMs: number | null;
  /** The plan's prediction at the workload batch. */
  readonly predictedP95Ms: number;
  readonly correction: PredictorError['correction'];
  readonly ratio: number | null;
}

export function predictorError(i: PredictorInput): PredictorError {
  const ratio = i.correction === 'none' ? null : i.ratio;
  const correctedP95Ms = ratio === null ? null : i.predictedP95Ms * ratio;
  return {
    ...i,
    ratio,
    batch1Error: i.batch1PredictedMs === null ? null : relativeError(i.batch1PredictedMs, i.measuredP95Ms),
    error: relativeError(i.predictedP95Ms, i.measuredP95Ms),
    correctedP95Ms,
    correctedError: correctedP95Ms === null ? null : relativeError(correctedP95Ms, i.measuredP95Ms),
  };
}

/**
 * Mean absolute error before and after the correction, over the rows that have one (the
 * out-of-sample ones: a ratio learned on one variant, judged on another or in a later phase).
 */
export function correctionSummary(rows: readonly PredictorError[]): {
  readonly rows: number;
  readonly meanAbsErrorBefore: number | null;
  readonly meanAbsErrorAfter: number | null;
} {
  const judged = rows.filter((r) => r.correctedError !== null);
  const mean = (xs: number[]): number | null =>
    xs.length === 0 ? null : xs.reduce((a, b) => a + Math.abs(b), 0) / xs.length;
  return {
    rows: judged.length,
    meanAbsErrorBefore: mean(judged.map((r) => r.error)),
    meanAbsErrorAfter: mean(judged.map((r) => r.correctedError as number)),
  };
}
