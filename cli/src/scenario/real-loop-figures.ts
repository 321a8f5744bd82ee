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
 * The latency predictor on one variant in one phase, against the p95 the agents measured. Two
 * bases: `batch1` (the planner's old one: host p95 of batch-1 calls × class factor, while the
 * workload runs batch B) and the plan's prediction at the workload batch. Each is corrected by the
 * per-class ratio learned from measured windows while the class was healthy (measured ÷ predicted
 * on the variant serving then: fp32 in the baseline); the batch-B prediction also by the ratio the
 * loop acted on under the quota (`breach`). Rows of a variant other than the one a ratio was
 * learned on are out of sample: they say whether the correction carries over. Errors are relative:
 * (predicted − measured) / measured; null where a figure is missing.
 */
export interface PredictorError {
  readonly recipe: string;
  readonly phase: string;
  /** True when the ratios were learned on another variant (the test of the correction). */
  readonly outOfSample: boolean;
  readonly measuredP95Ms: number;
  readonly batch1PredictedMs: number | null;
  readonly batch1Error: number | null;
  readonly batch1HealthyError: number | null;
  readonly predictedP95Ms: number;
  readonly error: number;
  readonly healthyRatio: number | null;
  readonly healthyError: number | null;
  readonly breachRatio: number | null;
  readonly breachError: number | null;
  /** The loop's own prediction with the devices' correction (standing ratio, utilisation-aware under the quota). */
  readonly devicesPredictedMs: number | null;
  readonly devicesError: number | null;
}

export interface PredictorInput {
  readonly recipe: string;
  readonly phase: string;
  readonly outOfSample: boolean;
  readonly measuredP95Ms: number;
  /** Host p95 at batch 1 × class factor (null: not known). */
  readonly batch1PredictedMs: number | null;
  /** The plan's prediction at the workload batch. */
  readonly predictedP95Ms: number;
  /** Healthy measured ÷ predicted, for the batch-1 basis and for the batch-B prediction. */
  readonly healthyRatio1: number | null;
  readonly healthyRatio: number | null;
  /** The ratio the loop acted on; only for phases under the quota. */
  readonly breachRatio: number | null;
  /** The prediction with the devices' correction (control/select.ts `correctionOf`); null: not known. */
  readonly devicesPredictedMs: number | null;
}

export function predictorError(i: PredictorInput): PredictorError {
  const err = (base: number | null, ratio: number | null): number | null =>
    base === null || ratio === null ? null : relativeError(base * ratio, i.measuredP95Ms);
  return {
    recipe: i.recipe,
    phase: i.phase,
    outOfSample: i.outOfSample,
    measuredP95Ms: i.measuredP95Ms,
    batch1PredictedMs: i.batch1PredictedMs,
    batch1Error: err(i.batch1PredictedMs, 1),
    batch1HealthyError: err(i.batch1PredictedMs, i.healthyRatio1),
    predictedP95Ms: i.predictedP95Ms,
    error: relativeError(i.predictedP95Ms, i.measuredP95Ms),
    healthyRatio: i.healthyRatio,
    healthyError: err(i.predictedP95Ms, i.healthyRatio),
    breachRatio: i.breachRatio,
    breachError: err(i.predictedP95Ms, i.breachRatio),
    devicesPredictedMs: i.devicesPredictedMs,
    devicesError: err(i.devicesPredictedMs, 1),
  };
}

/**
 * Mean absolute error of the out-of-sample rows: the batch-1 basis, the batch-B prediction before
 * and after the healthy correction, the same after the breach ratio, the batch-1 basis corrected alike, and the
 * loop's prediction with the devices' correction.
 */
export function correctionSummary(rows: readonly PredictorError[]): {
  readonly rows: number;
  readonly meanAbsErrorBatch1: number | null;
  readonly meanAbsErrorBefore: number | null;
  readonly meanAbsErrorAfter: number | null;
  readonly meanAbsErrorBreach: number | null;
  readonly meanAbsErrorBatch1After: number | null;
  readonly meanAbsErrorDevices: number | null;
} {
  const judged = rows.filter((r) => r.outOfSample && r.healthyError !== null);
  const mean = (xs: ReadonlyArray<number | null>): number | null => {
    const known = xs.filter((x): x is number => x !== null);
    return known.length === 0 ? null : known.reduce((a, b) => a + Math.abs(b), 0) / known.length;
  };
  return {
    rows: judged.length,
    meanAbsErrorBatch1: mean(judged.map((r) => r.batch1Error)),
    meanAbsErrorBefore: mean(judged.map((r) => r.error)),
    meanAbsErrorAfter: mean(judged.map((r) => r.healthyError)),
    meanAbsErrorBreach: mean(judged.map((r) => r.breachError)),
    meanAbsErrorBatch1After: mean(judged.map((r) => r.batch1HealthyError)),
    meanAbsErrorDevices: mean(judged.map((r) => r.devicesError)),
  };
}
