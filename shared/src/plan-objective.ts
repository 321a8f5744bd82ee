/**
 * What the planner optimises once the budgets are met (issue 21). Among the variants within
 * every budget of the class and within `accuracyTolerancePts` of the most accurate of them,
 * the objective picks:
 *
 * - `energy` (the default): the lowest predicted energy per inference, then latency, then size;
 * - `latency`: the lowest predicted p95 latency, then energy, then size;
 * - `size`: the fewest bytes, then energy, then latency;
 * - `accuracy`: the most accurate (capped at the original's, then top-1 agreement with it),
 *   then energy, latency and size.
 *
 * Set per class (`objective` in the class) or per plan (`objective` in `POST /v1/plans`, CLI
 * `--objective`); a plan's own wins over its class's, and the plan records which one it used.
 */
import * as z from 'zod';

export const PLAN_OBJECTIVES = ['energy', 'latency', 'size', 'accuracy'] as const;
export const planObjectiveKindSchema = z.enum(PLAN_OBJECTIVES, {
  error: () => `objective: one of ${PLAN_OBJECTIVES.join(', ')}`,
});
export type PlanObjectiveKind = z.infer<typeof planObjectiveKindSchema>;

/**
 * Default accuracy tolerance, points. On the 2,000-digit MNIST test split a difference of half
 * a point is ten digits, about 1.5 standard errors of one accuracy figure (~0.34 points); a
 * variant that close to the best is not measurably worse.
 */
export const DEFAULT_ACCURACY_TOLERANCE_PTS = 0.5;

/** An objective as a class or a plan request gives it. */
export const planObjectiveSchema = z.strictObject({
  kind: planObjectiveKindSchema,
  /** How far below the most accurate feasible variant a variant may score and still compete, points. Default 0.5. */
  accuracyTolerancePts: z.number().min(0).max(100).default(DEFAULT_ACCURACY_TOLERANCE_PTS),
});
export type PlanObjective = z.infer<typeof planObjectiveSchema>;
export type PlanObjectiveInput = z.input<typeof planObjectiveSchema>;

export const DEFAULT_PLAN_OBJECTIVE: PlanObjective = Object.freeze({
  kind: 'energy',
  accuracyTolerancePts: DEFAULT_ACCURACY_TOLERANCE_PTS,
});

/** The objective a plan was made with, and where it came from. */
export const appliedObjectiveSchema = z.object({
  kind: planObjectiveKindSchema,
  accuracyTolerancePts: z.number().min(0).max(100),
  source: z.enum(['plan', 'class', 'default']),
});
export type AppliedObjective = z.infer<typeof appliedObjectiveSchema>;

/** The order an objective ranks by, in words (plan output, reasons, help texts). */
export function describeObjective(o: Pick<PlanObjective, 'kind' | 'accuracyTolerancePts'>): string {
  const within = `among variants within every budget and within ${o.accuracyTolerancePts} pts of the most accurate`;
  switch (o.kind) {
    case 'energy':
      return `lowest predicted energy per inference, then latency, then size, ${within}`;
    case 'latency':
      return `lowest predicted p95 latency, then energy, then size, ${within}`;
    case 'size':
      return `fewest bytes, then energy, then latency, ${within}`;
    case 'accuracy':
      return (
        'most accurate (capped at the original, then agreement with it), then energy, latency, size, among ' +
        'variants within every budget'
      );
  }
}
