/**
 * The planner's objective (issue 21; definitions in shared/src/plan-objective.ts): which
 * feasible variant to choose once every budget is met. Pure and deterministic: the same
 * candidates give the same choice whatever their input order.
 *
 * Before, ties on accuracy fell to size, so on equal accuracy the planner chose `int8-weights`,
 * which onnxruntime runs slower than fp32 on this host (it dequantizes the weights on every
 * call), spending latency and energy on every inference to save bytes no budget asked for.
 */
import {
  DEFAULT_PLAN_OBJECTIVE,
  type AppliedObjective,
  type PlanObjective,
  type PlanObjectiveKind,
} from '@edgefleet/shared';
import type { Judged } from './select.js';

/** The plan request's objective, else the class's, else the default; with where it came from. */
export function resolveObjective(
  requested: PlanObjective | undefined,
  ofClass: PlanObjective | undefined,
): AppliedObjective {
  if (requested) return { ...requested, source: 'plan' };
  if (ofClass) return { ...ofClass, source: 'class' };
  return { ...DEFAULT_PLAN_OBJECTIVE, source: 'default' };
}

type Key = (j: Judged) => number;
const energy: Key = (j) => j.energyPerInferenceMj;
const latency: Key = (j) => j.p95LatencyMs;
const size: Key = (j) => j.bytes;

/** Lower is better for every key; accuracy keys are negated. */
function keysOf(kind: PlanObjectiveKind, baselinePct: number): Key[] {
  const capped: Key = (j) => -Math.min(j.accuracyPct, baselinePct);
  const agreement: Key = (j) => -j.agreementPct;
  switch (kind) {
    case 'energy':
      return [energy, latency, size, capped, agreement];
    case 'latency':
      return [latency, energy, size, capped, agreement];
    case 'size':
      return [size, energy, latency, capped, agreement];
    case 'accuracy':
      return [capped, agreement, energy, latency, size];
  }
}

/** Best-first comparison under an objective; the recipe name settles exact ties. */
export function objectiveOrder(kind: PlanObjectiveKind, baselinePct: number): (a: Judged, b: Judged) => number {
  const keys = keysOf(kind, baselinePct);
  return (a, b) => {
    for (const key of keys) {
      const d = key(a) - key(b);
      if (d !== 0) return d;
    }
    return a.recipe < b.recipe ? -1 : a.recipe > b.recipe ? 1 : 0;
  };
}

/**
 * The variants that compete under the objective: all of them for `accuracy`; otherwise those
 * within the tolerance of the most accurate (accuracy capped at the original's, as everywhere
 * in the planner, so noise above the original does not raise the bar).
 */
export function contenders<T extends Judged>(
  feasible: readonly T[],
  objective: PlanObjective,
  baselinePct: number,
): T[] {
  if (objective.kind === 'accuracy' || feasible.length === 0) return [...feasible];
  const capped = (j: Judged) => Math.min(j.accuracyPct, baselinePct);
  const best = Math.max(...feasible.map(capped));
  // 1e-9: accuracies are rounded to 0.01, and 97.65 - 0.5 must admit 97.15 exactly.
  return feasible.filter((j) => capped(j) >= best - objective.accuracyTolerancePts - 1e-9);
}

/** The objective's choice among feasible variants, or undefined when there are none. */
export function chooseByObjective<T extends Judged>(
  feasible: readonly T[],
  objective: PlanObjective,
  baselinePct: number,
): T | undefined {
  return contenders(feasible, objective, baselinePct).sort(objectiveOrder(objective.kind, baselinePct))[0];
}
