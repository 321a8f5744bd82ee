/** `GET /v1/jobs`: compression jobs on the queue replicas share (pg-boss in the store's Postgres). */
import * as z from 'zod';

export const VARIANT_BUILD_STAGES = ['reading', 'compressing', 'writing', 'evaluating'] as const;

export const queuedJobSchema = z.object({
  id: z.string(),
  /** pg-boss's state: created (waiting), active, retry (waiting after a failure or expiry), completed, failed. */
  state: z.string(),
  /** Runs started: 0 while it waits for its first, 1 + retries after. */
  attempts: z.number().int().nonnegative(),
  maxAttempts: z.number().int().positive(),
  /** The step the current (or last) run reached; `done` once completed; null before any run. */
  stage: z.enum([...VARIANT_BUILD_STAGES, 'done']).nullable(),
  /** Share of the build's steps started before the current one (0..1); 1 once completed. */
  progress: z.number().min(0).max(1),
  /** Why the last run failed (the build's error, or the queue's: an expiry, a worker that died). */
  error: z.string().nullable(),
  /** The model file the job builds from. */
  model: z.string(),
  /** The recipe's name; null for a baseline (the original bytes, evaluated). */
  recipe: z.string().nullable(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
});
export type QueuedJobStatus = z.infer<typeof queuedJobSchema>;

export const jobListQuerySchema = z.strictObject({
  /** One job by id. */
  id: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const jobListSchema = z.object({
  /** `postgres` when builds go through the shared queue; `in-process` (SQLite) when they run in the server itself. */
  queue: z.enum(['postgres', 'in-process']),
  jobs: z.array(queuedJobSchema),
});
export type JobList = z.infer<typeof jobListSchema>;
