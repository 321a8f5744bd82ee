import * as z from 'zod';
import { budgetsSchema } from '../budgets.js';
import { classNameSchema } from '../messages/common.js';

/**
 * Hardware-aware searches through the admin API: `POST /v1/searches` queues one (a search trains
 * candidate models for minutes, so it is a job), `GET /v1/searches/:id` reports its state,
 * progress and, when done, the Pareto front and the finalist (stored as a variant of the model
 * and included in a new plan of the class).
 */
export const searchCreateSchema = z.strictObject({
  /** Model name (newest of that name), sha256 or a sha prefix. */
  model: z.string().min(1).max(64),
  class: classNameSchema,
  /** Candidates built and scored at most (screened ones are free). Default 24. */
  evaluations: z.number().int().min(1).max(500).default(24),
  /**
   * Hard bound on the whole search, ms: candidates get half of it, finalists the rest, training
   * stops at the step the budget runs out (a finalist cut short is kept and says so), and a search
   * past it and a grace (a quarter of it, at least a minute) is terminated. Default none.
   */
  timeBudgetMs: z.number().int().positive().optional(),
  seed: z.number().int().nonnegative().default(1),
  /** Batch size latency is predicted and the p95 budget judged at. Default 1. */
  batch: z.number().int().min(1).max(256).default(1),
  /** Distillation epochs per candidate (default 1) and of the finalist (default 8). */
  epochs: z.number().int().min(0).max(50).default(1),
  finalEpochs: z.number().int().min(0).max(100).default(8),
  /** Training samples per candidate epoch (a subset keeps candidates cheap); default all. The finalist uses all. */
  trainSamples: z.number().int().min(1).max(1_000_000).optional(),
  /** Budgets replacing the class's for this search (e.g. a tighter size). */
  budgets: budgetsSchema.optional(),
  /** Measured ÷ predicted latency to apply to the class's speed factors (the loop's correction). */
  ratio: z.number().positive().finite().optional(),
});
export type SearchCreate = z.input<typeof searchCreateSchema>;

export const searchParamsSchema = z.strictObject({ id: z.string().min(1).max(64) });

const frontMemberSchema = z.object({
  key: z.string(),
  family: z.string(),
  accuracyPct: z.number(),
  bytes: z.number().int(),
  deviceP95Ms: z.number().nullable(),
});

export const searchStatusSchema = z.object({
  id: z.string(),
  state: z.enum(['queued', 'running', 'done', 'failed']),
  request: searchCreateSchema,
  createdAt: z.number().int(),
  startedAt: z.number().int().nullable(),
  finishedAt: z.number().int().nullable(),
  progress: z
    .object({
      evaluations: z.number().int(),
      maxEvaluations: z.number().int(),
      visited: z.number().int(),
      frontSize: z.number().int(),
    })
    .nullable(),
  result: z
    .object({
      evaluations: z.number().int(),
      visited: z.number().int(),
      stopped: z.string(),
      /** The time budget ran out (candidates or the finalist's training cut, or finalists left untried). */
      timedOut: z.boolean(),
      front: z.array(frontMemberSchema),
      finalist: z
        .object({
          artifactSha: z.string().nullable(),
          bytes: z.number().int(),
          accuracyPct: z.number(),
          deviceP95Ms: z.number().nullable(),
          /** The class's new plan, which includes the finalist among its candidates. */
          planId: z.number().int().nullable(),
          chosen: z.string().nullable(),
          /** Why the time budget cut its training short; null: trained in full. */
          cut: z.string().nullable(),
        })
        .nullable(),
    })
    .nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type SearchStatus = z.infer<typeof searchStatusSchema>;
export const searchListSchema = z.object({ searches: z.array(searchStatusSchema) });
