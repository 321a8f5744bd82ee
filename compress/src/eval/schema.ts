import { z } from 'zod';

/**
 * The evaluator's results as plain, versioned data: what `edgefleet eval --json` writes and
 * what the planner and the control loop read back.
 */
export const accuracySchema = z.object({
  /** Fraction of samples whose top-1 class equals the label. */
  top1: z.number().min(0).max(1),
  correct: z.number().int().nonnegative(),
  count: z.number().int().nonnegative(),
});

export const fidelitySchema = z.object({
  /** Path of the reference model. */
  reference: z.string(),
  top1Agreement: z.number().min(0).max(1),
  meanCosine: z.number(),
  minCosine: z.number(),
  maxAbsError: z.number().nonnegative(),
  count: z.number().int().nonnegative(),
});

export const sizeSchema = z.object({
  bytes: z.number().int().nonnegative(),
  gzipBytes: z.number().int().nonnegative(),
});

export const latencySchema = z.object({
  /** onnxruntime intra-op threads; sequential execution, one inter-op thread. */
  threads: z.number().int().positive(),
  batch: z.number().int().positive(),
  warmupRuns: z.number().int().nonnegative(),
  timedRuns: z.number().int().positive(),
  /** Rounds of `timedRuns` (p50 and p95 are the quietest round's); absent in results from before rounds. */
  rounds: z.number().int().positive().optional(),
  p50Ms: z.number().nonnegative(),
  p95Ms: z.number().nonnegative(),
  meanMs: z.number().nonnegative(),
  minMs: z.number().nonnegative(),
  source: z.literal('measured'),
});

export const memorySchema = z.object({
  weightBytes: z.number().int().nonnegative(),
  batch: z.number().int().positive(),
  activationPeakBytes: z.number().int().nonnegative().nullable(),
  activationPeakKnownBytes: z.number().int().nonnegative(),
  estimatedPeakBytes: z.number().int().nonnegative().nullable(),
  unknownOps: z.array(z.string()),
  unknownValues: z.number().int().nonnegative(),
  /**
   * Process RSS after creating the session minus before. Measured, but noisy: in a process
   * that already loaded and released other models the allocator reuses their pages, so it
   * understates; it can even be negative after a GC. Measure in a fresh process for a clean figure.
   */
  rssGrowthBytes: z.number().int(),
});

export const evalResultSchema = z.object({
  type: z.literal('eval-result'),
  v: z.literal(1),
  model: z.object({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  data: z.object({ source: z.string(), count: z.number().int().nonnegative(), labelled: z.boolean() }),
  accuracy: accuracySchema.nullable(),
  fidelity: fidelitySchema.nullable(),
  size: sizeSchema,
  latency: latencySchema.nullable(),
  memory: memorySchema,
  /**
   * Host latency at other batch sizes, keyed by the batch (`"32"`), measured when a device class
   * runs its workload at that batch (server/src/plan/variants.ts `latencyAt`); absent: none yet.
   */
  latencyByBatch: z.record(z.string(), latencySchema).optional(),
});

export type EvalResult = z.infer<typeof evalResultSchema>;
export type LatencyResult = z.infer<typeof latencySchema>;
