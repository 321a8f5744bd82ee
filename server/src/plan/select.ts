/**
 * Budget checks, the Pareto front and the choice. Pure: plain candidates in, plain verdicts
 * out. The choice is the most accurate candidate that meets every budget. Accuracy is ranked
 * capped at the original model's: on a finite evaluation set a compressed variant that scores
 * a few samples above its original is measurement noise, not a better model, so such "gains"
 * tie with the original and top-1 agreement with the original breaks the tie; remaining ties
 * go to the smallest, then to the recipe name, so the result never depends on input order.
 */
import type { Budgets } from '@edgefleet/shared';
import { round } from './predict.js';

/** A budget (or a hard capability limit) a candidate breaks, and by how much. */
export interface Violation {
  readonly budget: keyof Budgets | 'capabilities.memoryBytes' | 'capabilities.storageBytes';
  readonly limit: number;
  readonly value: number;
  /** value − limit for maxima, limit − value for minima; always > 0. */
  readonly excess: number;
  readonly unit: 'bytes' | 'ms' | 'W' | 'mJ' | '%' | 'pts';
}

/** The figures a candidate is judged on. */
export interface Judged {
  readonly recipe: string;
  readonly bytes: number;
  readonly accuracyPct: number;
  readonly p95LatencyMs: number;
  readonly energyPerInferenceMj: number;
  readonly avgPowerW: number;
  /** Estimated peak memory (weights + activations), when the evaluator knew it. */
  readonly peakMemoryBytes: number | null;
  /** Top-1 agreement with the original model in percent (100 for the original itself). */
  readonly agreementPct: number;
}

/** Hard limits from the class capabilities. */
export interface Limits {
  readonly memoryBytes: number;
  readonly storageBytes: number;
}

/**
 * Every budget the candidate breaks; [] when it fits. The one budget check: the planner
 * judges its candidates with it and the control loop judges front members under its
 * corrected speed model with it, so the two cannot disagree on what fits.
 *
 * `baselinePct` is the original model's accuracy (for `maxAccuracyDropPts`). `margin` (≤ 1)
 * shrinks the limits of the predicted figures (latency, power, energy), which the loop uses to
 * keep headroom: a variant predicted at 99% of a limit would breach again on the first
 * noisy window. Size, memory and accuracy are known exactly and keep their limits.
 */
export function checkBudgets(
  c: Judged,
  budgets: Budgets,
  limits: Limits,
  baselinePct: number,
  options: { readonly margin?: number } = {},
): Violation[] {
  const out: Violation[] = [];
  const margin = options.margin ?? 1;
  const over = (
    budget: Violation['budget'],
    value: number,
    limit: number | undefined,
    unit: Violation['unit'],
  ): void => {
    if (limit !== undefined && value > limit)
      out.push({ budget, limit, value: round(value), excess: round(value - limit), unit });
  };
  const predicted = (limit: number | undefined) => (limit === undefined ? undefined : limit * margin);
  over('maxModelBytes', c.bytes, budgets.maxModelBytes, 'bytes');
  over('capabilities.storageBytes', c.bytes, limits.storageBytes, 'bytes');
  if (c.peakMemoryBytes !== null) over('capabilities.memoryBytes', c.peakMemoryBytes, limits.memoryBytes, 'bytes');
  over('maxP95LatencyMs', c.p95LatencyMs, predicted(budgets.maxP95LatencyMs), 'ms');
  over('maxAvgPowerW', c.avgPowerW, predicted(budgets.maxAvgPowerW), 'W');
  over('maxEnergyPerInferenceMj', c.energyPerInferenceMj, predicted(budgets.maxEnergyPerInferenceMj), 'mJ');
  if (budgets.minAccuracyPct !== undefined && c.accuracyPct < budgets.minAccuracyPct) {
    out.push({
      budget: 'minAccuracyPct',
      limit: budgets.minAccuracyPct,
      value: round(c.accuracyPct),
      excess: round(budgets.minAccuracyPct - c.accuracyPct),
      unit: '%',
    });
  }
  over('maxAccuracyDropPts', baselinePct - c.accuracyPct, budgets.maxAccuracyDropPts, 'pts');
  return out;
}

/** How far a candidate is from fitting: the sum of relative excesses (accuracy in points / max(limit, 1)). */
export function distance(violations: readonly Pick<Violation, 'excess' | 'limit' | 'unit'>[]): number {
  return violations.reduce(
    (sum, v) => sum + (v.unit === '%' || v.unit === 'pts' ? v.excess / Math.max(v.limit, 1) : v.excess / v.limit),
    0,
  );
}

/** True when `a` is at least as good as `b` everywhere and better somewhere. */
function dominates(a: Judged, b: Judged): boolean {
  const ge =
    a.accuracyPct >= b.accuracyPct &&
    a.bytes <= b.bytes &&
    a.p95LatencyMs <= b.p95LatencyMs &&
    a.energyPerInferenceMj <= b.energyPerInferenceMj;
  const gt =
    a.accuracyPct > b.accuracyPct ||
    a.bytes < b.bytes ||
    a.p95LatencyMs < b.p95LatencyMs ||
    a.energyPerInferenceMj < b.energyPerInferenceMj;
  return ge && gt;
}

/** The non-dominated candidates over (accuracy ↑, size ↓, predicted latency ↓, predicted energy ↓), in input order. */
export function paretoFront<T extends Judged>(items: readonly T[]): T[] {
  return items.filter((c) => !items.some((o) => o !== c && dominates(o, c)));
}

/** Best-first order for a given baseline accuracy: capped accuracy, agreement with the original, size, name. */
export function preferenceOrder(baselinePct: number): (a: Judged, b: Judged) => number {
  const capped = (j: Judged): number => Math.min(j.accuracyPct, baselinePct);
  return (a, b) =>
    capped(b) - capped(a) ||
    b.agreementPct - a.agreementPct ||
    a.bytes - b.bytes ||
    (a.recipe < b.recipe ? -1 : a.recipe > b.recipe ? 1 : 0);
}

/** The closest miss: smallest distance, then preference order. */
export function closest<
  T extends Judged & { readonly violations: readonly Pick<Violation, 'excess' | 'limit' | 'unit'>[] },
>(items: readonly T[], baselinePct: number): T | null {
  const pref = preferenceOrder(baselinePct);
  return [...items].sort((a, b) => distance(a.violations) - distance(b.violations) || pref(a, b))[0] ?? null;
}
