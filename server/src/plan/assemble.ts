/**
 * Turns built variants into a plan for one class. Pure and deterministic: the same variants,
 * class and speed model give the same plan, field for field.
 */
import {
  describeObjective,
  type AppliedObjective,
  type DeviceClass,
  type Plan,
  type PlanCandidate,
} from '@edgefleet/shared';
import { BASELINE_RECIPE, type Candidate } from './candidates.js';
import type { ModelRecord } from './models.js';
import { hostP95At, predict, round, type EffectiveSpeedModel } from './predict.js';
import { chooseByObjective, contenders, resolveObjective } from './objective.js';
import { checkBudgets, closest, paretoFront, type Judged } from './select.js';
import type { Variant } from './variants.js';

/** One candidate with its built variant. */
export interface Built {
  readonly candidate: Candidate;
  readonly variant: Variant;
}

function accuracyOf(v: Variant): { pct: number; metric: 'top1' | 'top1-agreement' } | null {
  const e = v.evaluation;
  if (!e) return null;
  if (e.accuracy) return { pct: round(e.accuracy.top1 * 100, 2), metric: 'top1' };
  if (e.fidelity) return { pct: round(e.fidelity.top1Agreement * 100, 2), metric: 'top1-agreement' };
  // The baseline on unlabelled data agrees with itself.
  return { pct: 100, metric: 'top1-agreement' };
}

/** Top-1 agreement with the original in percent; the original agrees with itself. */
function agreementOf(v: Variant): number {
  const f = v.evaluation?.fidelity;
  return f ? round(f.top1Agreement * 100, 2) : 100;
}

function candidateRow(
  b: Built,
  cls: DeviceClass,
  speed: EffectiveSpeedModel,
  baseline: { readonly pct: number; readonly hostP95Ms: number | null },
): PlanCandidate {
  const baselinePct = baseline.pct;
  const { candidate: c, variant: v } = b;
  const base = {
    agreementPct: v.evaluation ? agreementOf(v) : null,
    peakMemoryBytes: v.evaluation?.memory.estimatedPeakBytes ?? null,
    recipe: c.name,
    precision: c.precision,
    artifactSha: v.artifactSha,
    artifactPath: v.artifactPath,
    bytes: v.bytes,
    violations: [],
    feasible: false,
    onFront: false,
  };
  const acc = accuracyOf(v);
  // A search finalist timed side by side with the baseline is predicted from that ratio (candidates.ts), which
  // was taken at batch 1; everything else from its own timing at the class's workload batch.
  const hostP95 =
    c.hostRatio !== undefined && baseline.hostP95Ms !== null
      ? baseline.hostP95Ms * c.hostRatio
      : hostP95At(v.evaluation, cls);
  const prediction = hostP95 === null ? null : predict(hostP95, c.precision, cls, speed);
  const common = { ...base, accuracyPct: acc?.pct ?? null, accuracyMetric: acc?.metric ?? null, predicted: prediction };
  if (v.error !== null || v.bytes === null || !acc)
    return { ...common, eligible: false, excluded: `recipe failed: ${v.error ?? 'no evaluation'}` };
  if (!cls.capabilities.precisions.includes(c.precision))
    return {
      ...common,
      eligible: false,
      excluded: `class executes ${cls.capabilities.precisions.join('/')}, not ${c.precision}`,
    };
  if (!prediction)
    return {
      ...common,
      eligible: false,
      excluded: `no host latency measurement at batch ${cls.powerModel.workloadBatch ?? 1}`,
    };
  const judged = judgedOf(c.name, v.bytes, acc.pct, prediction, v);
  const violations = checkBudgets(judged, cls.budgets, cls.capabilities, baselinePct);
  return { ...common, eligible: true, excluded: null, violations, feasible: violations.length === 0 };
}

function judgedOf(
  recipe: string,
  bytes: number,
  accuracyPct: number,
  p: NonNullable<PlanCandidate['predicted']>,
  v: Variant,
): Judged {
  return {
    recipe,
    bytes,
    accuracyPct,
    agreementPct: agreementOf(v),
    p95LatencyMs: p.p95LatencyMs,
    energyPerInferenceMj: p.energyPerInferenceMj,
    avgPowerW: p.avgPowerW,
    peakMemoryBytes: v.evaluation?.memory.estimatedPeakBytes ?? null,
  };
}

type Eligible = PlanCandidate & Judged & { readonly violations: PlanCandidate['violations'] };

function asJudged(rows: readonly PlanCandidate[]): Eligible[] {
  return rows
    .filter((r) => r.eligible && r.bytes !== null && r.accuracyPct !== null && r.predicted !== null)
    .map((r) => ({
      ...r,
      bytes: r.bytes as number,
      accuracyPct: r.accuracyPct as number,
      agreementPct: r.agreementPct ?? 0,
      p95LatencyMs: r.predicted?.p95LatencyMs ?? 0,
      energyPerInferenceMj: r.predicted?.energyPerInferenceMj ?? 0,
      avgPowerW: r.predicted?.avgPowerW ?? 0,
      peakMemoryBytes: r.peakMemoryBytes ?? null,
    }));
}

function describe(v: PlanCandidate['violations'][number]): string {
  return `${v.budget} ${v.value} ${v.unit} vs ${v.limit} (over by ${v.excess})`;
}

/** Why the choice won, in the objective's terms. */
function chosenReason(best: Eligible, objective: AppliedObjective, competing: number, cls: DeviceClass): string {
  const p = best.predicted;
  const figures =
    `${best.accuracyPct}% (${best.agreementPct}% top-1 agreement with the original), ${best.bytes} bytes, ` +
    `predicted p95 ${p?.p95LatencyMs} ms, ${p?.energyPerInferenceMj} mJ/inference, ${p?.avgPowerW} W average`;
  const how = describeObjective(objective);
  return (
    `${best.recipe} meets every budget and wins on the ${objective.kind} objective (${objective.source}: ${how}; ` +
    `${competing} variant${competing === 1 ? '' : 's'} competed): ${figures} ` +
    `(predictions are host measurement × modelled ${cls.name} factors)`
  );
}

/** Builds the plan from built candidates (the baseline among them). */
export function assemblePlan(
  model: ModelRecord,
  cls: DeviceClass,
  speed: EffectiveSpeedModel,
  built: readonly Built[],
  objective: AppliedObjective = resolveObjective(undefined, cls.objective),
): Plan {
  const baseline = built.find((b) => b.candidate.name === BASELINE_RECIPE);
  const baselineAcc = baseline ? accuracyOf(baseline.variant) : null;
  const baselineHost = { pct: baselineAcc?.pct ?? 0, hostP95Ms: hostP95At(baseline?.variant.evaluation ?? null, cls) };
  let rows = built.map((b) => candidateRow(b, cls, speed, baselineHost));
  const eligible = asJudged(rows);
  const front = new Set(paretoFront(eligible).map((c) => c.recipe));
  rows = rows.map((r) => ({ ...r, onFront: front.has(r.recipe) }));
  const baselinePct = baselineAcc?.pct ?? 100;
  const feasible = eligible.filter((c) => c.feasible);
  const best = chooseByObjective(feasible, objective, baselinePct);
  const near = best ? null : closest(eligible, baselinePct);
  let reason: string;
  if (best) {
    reason = chosenReason(best, objective, contenders(feasible, objective, baselinePct).length, cls);
  } else if (near) {
    const fails = eligible.map((c) => `${c.recipe}: ${c.violations.map(describe).join('; ')}`).join(' | ');
    reason = `no feasible variant for ${cls.name}; failing budgets per candidate — ${fails}. Closest: ${near.recipe}`;
  } else {
    const why = rows.map((r) => `${r.recipe}: ${r.excluded ?? 'not eligible'}`).join(' | ');
    reason = `no feasible variant for ${cls.name}: no candidate can run on this class (${why})`;
  }
  return {
    type: 'plan',
    v: 1,
    model: { sha256: model.sha256, name: model.name, evalSpec: model.evalSpec },
    deviceClass: { name: cls.name, version: cls.version },
    speedModel: { version: speed.version, status: speed.status, factors: speed.factors, override: speed.override },
    budgets: cls.budgets,
    recipes: built.map((b) => b.candidate.name),
    baseline: { recipe: BASELINE_RECIPE, accuracyPct: baselineAcc?.pct ?? null },
    candidates: rows,
    front: rows.filter((r) => r.onFront).map((r) => r.recipe),
    outcome: best ? 'feasible' : 'no-feasible-variant',
    chosen: best?.recipe ?? near?.recipe ?? null,
    reason,
    objective,
  };
}
