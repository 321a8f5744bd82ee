/**
 * Choosing a front member with the class speed model corrected by telemetry: a member's
 * predicted p95 (and energy/power, which scale with busy time) is multiplied by the measured ÷
 * predicted latency ratio of the variant the devices serve now, and the result is judged by
 * the planner's own budget check (plan/select.ts), with the policy's fit margin. Pure functions.
 */
import type { Budgets } from '@edgefleet/shared';
import { checkBudgets, type Limits, type Violation } from '../plan/select.js';
import type { DeviceObservation, PlanMember, Precision } from './model.js';

/** What a member is judged against: the class budgets and limits, the original's accuracy, the correction. */
export interface FitContext {
  readonly budgets: Budgets;
  readonly limits: Limits;
  /**
   * Accuracy of the original model, percent (base of `maxAccuracyDropPts`); null: unknown, that budget is not judged.
   */
  readonly baselinePct: number | null;
  /** Measured ÷ predicted latency of the variant serving now. */
  readonly ratio: number;
  /**
   * The devices' standing correction (measured ÷ predicted while the class was healthy) and the
   * serving variant's prediction: set, a member is judged utilisation-aware ({@link correctionOf}).
   */
  readonly standing?: { readonly ratio: number; readonly servingPredictedMs: number };
  /** Share of a predicted figure's limit a member may use (the policy's `fitMargin`). */
  readonly margin: number;
}

/** Higher is more precise. */
export const PRECISION_RANK: Readonly<Record<Precision, number>> = { int4: 0, int8: 1, fp16: 2, fp32: 3 };

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median measured ÷ predicted p95 over the devices serving `member` (null: no figure). */
export function latencyRatio(member: PlanMember | null, devices: readonly DeviceObservation[]): number | null {
  if (!member || member.predictedP95Ms <= 0) return null;
  const measured = devices
    .filter((d) => d.variantSha === member.artifactSha && d.p95Ms !== null)
    .map((d) => d.p95Ms as number);
  const m = median(measured);
  return m === null ? null : m / member.predictedP95Ms;
}

/** The variant most devices serve, as a plan member (null: unknown to the plan). */
export function currentMember(
  members: readonly PlanMember[],
  devices: readonly DeviceObservation[],
): PlanMember | null {
  const counts = new Map<string, number>();
  for (const d of devices) if (d.variantSha !== null) counts.set(d.variantSha, (counts.get(d.variantSha) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
  return top === undefined ? null : (members.find((m) => m.artifactSha === top[0]) ?? null);
}

/**
 * The factor a member's predictions are corrected by. Proportional: the serving variant's measured
 * ÷ predicted ratio, for every member (a clock slowed by heat slows every variant alike). With the
 * devices' standing ratio, utilisation-aware: the slowdown s = ratio ÷ standing is read as too
 * little CPU for the serving variant's demand (a CPU quota, another process), and a member that
 * needs d = its prediction ÷ the serving one's of that CPU is slowed by max(1, s × d): a variant
 * that needs a quarter of the CPU under a ×4 slowdown runs unthrottled. Modelled, and checked
 * against measurement in bench:loop-real.
 */
export function correctionOf(predictedMs: number, fit: Pick<FitContext, 'ratio' | 'standing'>): number {
  const st = fit.standing;
  if (!st || st.ratio <= 0 || st.servingPredictedMs <= 0) return fit.ratio;
  const slowdown = Math.max(1, fit.ratio / st.ratio);
  return st.ratio * Math.max(1, (slowdown * predictedMs) / st.servingPredictedMs);
}

/**
 * One ratio that judges members against a latency limit as {@link correctionOf} does: a member
 * predicted at p fits `limitMs` under the (utilisation-aware) correction exactly when p × this ratio
 * does. For a search, whose predictor takes a single ratio. Proportional: the ratio itself.
 */
export function ratioAtLimit(limitMs: number, fit: Pick<FitContext, 'ratio' | 'standing'>): number {
  const st = fit.standing;
  if (!st || st.ratio <= 0 || st.servingPredictedMs <= 0 || limitMs <= 0) return fit.ratio;
  const slowdown = Math.max(1, fit.ratio / st.ratio);
  // The largest prediction that fits: unthrottled (limit ÷ standing) if the slowdown spares it, else the root of
  // p × standing × slowdown × p ÷ serving = limit.
  const unthrottled = limitMs / st.ratio;
  const p =
    (slowdown * unthrottled) / st.servingPredictedMs <= 1
      ? unthrottled
      : Math.sqrt((limitMs * st.servingPredictedMs) / (st.ratio * slowdown));
  return limitMs / p;
}

/** Predictions of a member under the corrected model. */
export function corrected(
  member: PlanMember,
  fit: Pick<FitContext, 'ratio' | 'standing'>,
): { p95Ms: number; powerW: number; energyMj: number } {
  const ratio = correctionOf(member.predictedP95Ms, fit);
  return {
    p95Ms: member.predictedP95Ms * ratio,
    powerW: member.predictedPowerW * ratio,
    energyMj: member.predictedEnergyMj * ratio,
  };
}

/** Why a member does not fit under the corrected model: the budgets it breaks (empty: it fits). */
export function misfits(member: PlanMember, fit: FitContext): Violation[] {
  const c = corrected(member, fit);
  const { maxAccuracyDropPts: _drop, ...rest } = fit.budgets;
  // Without the original's accuracy the drop cannot be judged.
  const budgets = fit.baselinePct === null ? rest : fit.budgets;
  const judged = {
    recipe: member.recipe,
    bytes: member.bytes,
    // An accuracy the plan does not know breaks no accuracy budget (as before the checks were one).
    accuracyPct: member.accuracyPct ?? Number.POSITIVE_INFINITY,
    agreementPct: 100,
    p95LatencyMs: c.p95Ms,
    energyPerInferenceMj: c.energyMj,
    avgPowerW: c.powerW,
    peakMemoryBytes: member.peakMemoryBytes,
  };
  return checkBudgets(judged, budgets, fit.limits, fit.baselinePct ?? 0, { margin: fit.margin });
}

const byAccuracyThenSpeed = (a: PlanMember, b: PlanMember): number =>
  (b.accuracyPct ?? -1) - (a.accuracyPct ?? -1) ||
  a.predictedP95Ms - b.predictedP95Ms ||
  a.recipe.localeCompare(b.recipe);

/**
 * Latency, power or size breach: the most accurate front member (other than the current one
 * and not recently failed) predicted to fit under the corrected model; null when none does.
 */
export function chooseFitting(
  members: readonly PlanMember[],
  fit: FitContext,
  exclude: ReadonlySet<string>,
): PlanMember | null {
  return (
    members
      .filter((m) => m.onFront && !exclude.has(m.artifactSha) && misfits(m, fit).length === 0)
      .sort(byAccuracyThenSpeed)[0] ?? null
  );
}

/**
 * Accuracy breach: the next more accurate variant. When the breach is on-device (the host
 * accuracy met the budget), the device computes the current precision wrongly, so the next
 * step up is the least precise member of a higher precision that fits the other budgets.
 */
export function chooseMoreAccurate(
  members: readonly PlanMember[],
  current: PlanMember | null,
  fit: FitContext,
  exclude: ReadonlySet<string>,
): PlanMember | null {
  const rank = current ? PRECISION_RANK[current.precision] : -1;
  const acc = current?.accuracyPct ?? -1;
  const up = members.filter(
    (m) =>
      !exclude.has(m.artifactSha) &&
      (PRECISION_RANK[m.precision] > rank || (PRECISION_RANK[m.precision] === rank && (m.accuracyPct ?? -1) > acc)),
  );
  // The accuracy budgets are judged by the device here, not by the host figure.
  const { minAccuracyPct: _hostJudged, maxAccuracyDropPts: _dropJudged, ...others } = fit.budgets;
  const fitting = up.filter((m) => misfits(m, { ...fit, budgets: others }).length === 0);
  return (
    fitting.sort(
      (a, b) =>
        PRECISION_RANK[a.precision] - PRECISION_RANK[b.precision] ||
        (b.accuracyPct ?? -1) - (a.accuracyPct ?? -1) ||
        a.predictedP95Ms - b.predictedP95Ms,
    )[0] ?? null
  );
}

/**
 * Best effort when nothing fits: the front member with the lowest predicted latency, faster
 * than the current one, that breaks no budget other than latency (and power and energy, which
 * scale with latency in the corrected model); null when there is none.
 */
export function chooseFastest(
  members: readonly PlanMember[],
  current: PlanMember | null,
  fit: FitContext,
  exclude: ReadonlySet<string>,
): PlanMember | null {
  const scaled: ReadonlySet<string> = new Set(['maxP95LatencyMs', 'maxAvgPowerW', 'maxEnergyPerInferenceMj']);
  return (
    members
      .filter(
        (m) =>
          m.onFront &&
          !exclude.has(m.artifactSha) &&
          (current === null || m.predictedP95Ms < current.predictedP95Ms) &&
          misfits(m, fit).every((v) => scaled.has(v.budget)),
      )
      .sort((a, b) => a.predictedP95Ms - b.predictedP95Ms || a.recipe.localeCompare(b.recipe))[0] ?? null
  );
}
