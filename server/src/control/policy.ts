/**
 * The control loop's policy as data (zod, every field defaulted, so `{}` is a valid policy).
 * Times are ms; fractions are 0..1.
 */
import { z } from 'zod';

export const controlPolicySchema = z.strictObject({
  /** A class breaches when at least this fraction of its active devices breach a budget. Default 0.5. */
  breachFraction: z.number().gt(0).max(1).default(0.5),
  /** Fewer active devices than this and the class is not judged at all. Default 1. */
  minActiveDevices: z.number().int().min(1).default(1),
  /** The class must stay in breach this long before the loop acts (hysteresis). Default 30000. */
  hysteresisMs: z.number().int().nonnegative().default(30_000),
  /** After a re-deploy, no further change of the class for this long. Default 300000 (5 min). */
  cooldownMs: z.number().int().nonnegative().default(300_000),
  /** At most this many re-deploys of a class per rolling hour. Default 3. */
  maxDeploysPerHour: z.number().int().min(1).default(3),
  /** At most this many variant changes per breach episode; then only an alert. Default 1. */
  maxChangesPerEpisode: z.number().int().min(1).default(1),
  /** A variant that failed on a class is not chosen again for this long. Default 21600000 (6 h). */
  failedRetryMs: z.number().int().nonnegative().default(21_600_000),
  /** A predicted figure must stay under this fraction of its limit to count as fitting (headroom). Default 0.9. */
  fitMargin: z.number().gt(0).max(1).default(0.9),
  cohorts: z
    .strictObject({
      /** Answer a breach confined to thermally throttled devices with a rollout to them alone. Default true. */
      enabled: z.boolean().default(true),
      /**
       * Only when the throttled cohort is at most this fraction of the class; above it the whole class moves. Default
       * 0.5.
       */
      maxFraction: z.number().gt(0).max(1).default(0.5),
    })
    .prefault({}),
  /**
   * When a class breaches and nothing stored fits even after a re-plan with the corrected speed
   * model, search for a new model (hardware-aware search: pruning, distillation, per-layer
   * precision) within these bounds, then roll its result out like any variant. On by default:
   * it is the last resort before best effort or an alert, and `timeBudgetMs` bounds it.
   */
  search: z
    .strictObject({
      enabled: z.boolean().default(true),
      /**
       * Hard bound on the whole search, ms: candidates get half, the finalists' training the rest
       * (cut at the step it runs out, the model as trained so far kept and labelled); past it and a
       * grace (a quarter, at least a minute) the search's worker is terminated. Default 600000 (10 min).
       */
      timeBudgetMs: z.number().int().positive().default(600_000),
      /** Candidates built and scored at most. Default 24. */
      maxEvaluations: z.number().int().min(1).default(24),
      /** Distillation epochs per candidate. Default 1. */
      epochs: z.number().int().min(0).max(50).default(1),
      /** Training samples per candidate epoch. Default 2000 (the finalist trains on the whole split). */
      trainSamples: z.number().int().min(1).default(2000),
      /** Distillation epochs of the finalist. Default 8. */
      finalEpochs: z.number().int().min(0).max(100).default(8),
    })
    .prefault({}),
  /**
   * When nothing is predicted to fit, even after a re-plan: roll out the stored front member with
   * the lowest predicted latency that is faster than the current one and meets every other
   * budget, instead of only alerting. The corrected model scales every variant by one measured
   * ratio; a slowdown that is not proportional (a CPU quota stalls a process only while it wants
   * more than the quota) makes it overstate faster variants. Default false.
   */
  bestEffort: z.boolean().default(false),
  /**
   * How the loop predicts other variants from what the devices measure. `proportional`: every
   * variant × the serving one's measured ÷ predicted ratio (right for a clock slowed by heat).
   * `utilisation`: the devices' standing ratio (learned while the class was healthy), and a
   * slowdown read as too little CPU, which a variant needing less CPU suffers less
   * (control/select.ts `correctionOf`; right for a CPU quota or a competing process; devices
   * reporting thermal throttling are still judged proportionally). Default proportional.
   */
  correction: z.enum(['proportional', 'utilisation']).default('proportional'),
  /** Recipes for a re-plan when nothing on the front fits; default: the recipes of the current plan. */
  replanRecipes: z.array(z.string().min(1)).min(1).optional(),
});
export type ControlPolicy = z.infer<typeof controlPolicySchema>;
export type ControlPolicyInput = z.input<typeof controlPolicySchema>;

/** Parses a policy, defaults filled in; throws a zod error on bad input (callers wrap it). */
export function parseControlPolicy(input: ControlPolicyInput = {}): ControlPolicy {
  return controlPolicySchema.parse(input);
}
