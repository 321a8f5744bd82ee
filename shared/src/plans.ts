/**
 * A compression plan as data: what `edgefleet plan --json` prints, what the admin API serves
 * and what rollouts and the closed loop read. Latency, energy and power of a candidate are
 * predictions (host measurement × modelled class factors), and say so in their fields.
 */
import * as z from 'zod';
import { budgetsSchema, classPrecisionSchema } from './budgets.js';
import { classNameSchema, sha256HexSchema } from './messages/common.js';
import { appliedObjectiveSchema } from './plan-objective.js';

export const violationSchema = z.object({
  budget: z.string(),
  limit: z.number(),
  value: z.number(),
  excess: z.number(),
  unit: z.enum(['bytes', 'ms', 'W', 'mJ', '%', 'pts']),
});

export const planCandidateSchema = z.object({
  recipe: z.string(),
  precision: classPrecisionSchema,
  /** False when the class cannot execute the precision or the recipe failed; then `excluded` says why. */
  eligible: z.boolean(),
  excluded: z.string().nullable(),
  artifactSha: sha256HexSchema.nullable(),
  /** Relative to the server's data directory. */
  artifactPath: z.string().nullable(),
  bytes: z.number().int().nullable(),
  accuracyPct: z.number().nullable(),
  /** `top1` against labels, or `top1-agreement` with the original model when the data has none. */
  accuracyMetric: z.enum(['top1', 'top1-agreement']).nullable(),
  /** Top-1 agreement with the original model, percent; breaks accuracy ties (see server/src/plan/select.ts). */
  agreementPct: z.number().nullable(),
  /** Estimated peak memory on the host (weights + activations), bytes; judged against the class's memory. */
  peakMemoryBytes: z.number().int().nullable().optional(),
  predicted: z
    .object({
      source: z.literal('predicted'),
      hostP95Ms: z.number(),
      /** Samples per call the prediction is for (the class's workload batch); absent: 1. */
      batch: z.number().int().positive().optional(),
      speedFactor: z.number(),
      p95LatencyMs: z.number(),
      energyPerInferenceMj: z.number(),
      avgPowerW: z.number(),
      powerLabel: z.literal('modelled'),
    })
    .nullable(),
  violations: z.array(violationSchema),
  feasible: z.boolean(),
  onFront: z.boolean(),
});
export type PlanCandidate = z.infer<typeof planCandidateSchema>;

export const planSchema = z.object({
  type: z.literal('plan'),
  v: z.literal(1),
  model: z.object({ sha256: sha256HexSchema, name: z.string(), evalSpec: z.string() }),
  deviceClass: z.object({ name: classNameSchema, version: z.number().int().positive() }),
  speedModel: z.object({
    version: z.string(),
    status: z.enum(['modelled', 'calibrated']),
    factors: z.partialRecord(classPrecisionSchema, z.number()),
    override: z
      .object({
        label: z.string(),
        ratio: z.number().optional(),
        factors: z.partialRecord(classPrecisionSchema, z.number()).optional(),
      })
      .nullable(),
  }),
  budgets: budgetsSchema,
  /** Candidate recipe names, baseline first. */
  recipes: z.array(z.string()),
  baseline: z.object({ recipe: z.string(), accuracyPct: z.number().nullable() }),
  candidates: z.array(planCandidateSchema),
  /**
   * Recipes on the Pareto front over (accuracy, size, predicted latency, predicted energy) among eligible candidates.
   */
  front: z.array(z.string()),
  outcome: z.enum(['feasible', 'no-feasible-variant']),
  /** The chosen recipe (feasible), or the closest miss (no feasible variant), or null when nothing could be built. */
  chosen: z.string().nullable(),
  reason: z.string(),
  /**
   * What the choice optimised and where that came from; absent in
   * plans stored before issue 21 (they ranked by accuracy, then size).
   */
  objective: appliedObjectiveSchema.optional(),
});
export type Plan = z.infer<typeof planSchema>;

/** A stored plan: the deterministic plan body plus where and when it was stored. */
export const storedPlanSchema = z.object({
  id: z.number().int().positive(),
  createdAt: z.number().int().nonnegative(),
  /** True when an identical earlier plan (same inputs) was returned instead of planning again. */
  reused: z.boolean(),
  plan: planSchema,
  /** Variants compressed to answer this request (0 when every candidate was cached); only on a new plan. */
  compressions: z.number().int().nonnegative().optional(),
});
export type StoredPlan = z.infer<typeof storedPlanSchema>;

/**
 * The name a variant goes by in rollouts and histories: `v-<recipe>-<first 8 hex of its sha256>`
 * (the control loop, the console and `rollout start --plan` all name it so).
 */
export function variantIdOf(recipe: string, artifactSha: string): string {
  return `v-${recipe.replace(/[^A-Za-z0-9_.:@-]/g, '-').slice(0, 40)}-${artifactSha.slice(0, 8)}`;
}

/** The plan's chosen candidate with a built artifact, or null (nothing chosen, or the choice failed to build). */
export function chosenCandidate(plan: Plan): (PlanCandidate & { readonly artifactSha: string }) | null {
  const c = plan.candidates.find((x) => x.recipe === plan.chosen);
  return c && c.artifactSha !== null ? { ...c, artifactSha: c.artifactSha } : null;
}
