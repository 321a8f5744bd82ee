import * as z from 'zod';
import { classPrecisionSchema } from '../budgets.js';
import { classNameSchema, sha256HexSchema } from '../messages/common.js';
import { planObjectiveSchema } from '../plan-objective.js';
import { storedPlanSchema } from '../plans.js';
import { serverTimeSchema } from './common.js';

/** Largest ONNX upload the API accepts by default: 256 MiB (`api.maxModelBytes` on the route). */
export const DEFAULT_MAX_MODEL_UPLOAD_BYTES = 256 * 1024 * 1024;

/** A model's name: what `edgefleet plan NAME` finds it by. */
export const modelNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'model name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');

/** Evaluation data named without a server path: `mnist`, `mnist:SPLIT[:N]` or `random:N`. */
export const apiEvalSpecSchema = z
  .string()
  .regex(/^(mnist(:[a-z]+(:\d+)?)?|random:\d{1,6})$/, 'eval: mnist, mnist:SPLIT[:N] or random:N');

/** `NAME=D1,D2,…`: fixed dims for a symbolic model input. */
export const inputShapeSchema = z
  .string()
  .regex(/^[^=]{1,128}=\d+(,\d+){0,7}$/, 'shape: NAME=D1,D2,… (e.g. x=1,3,48,192)');

/**
 * `POST /v1/models?name=…&eval=…&shape=…`, body: the ONNX bytes (`application/octet-stream`).
 * `eval` may also be an absolute sample directory on the server host, but only from a caller
 * on that host (the CLI with the server's runtime token, README "Commands"); other callers
 * name data without a path.
 */
export const modelUploadQuerySchema = z.strictObject({
  name: modelNameSchema,
  /** Default `mnist`. */
  eval: z.union([apiEvalSpecSchema, z.string().regex(/^\//, 'eval: an absolute directory').max(4096)]).default('mnist'),
  /** Fixed dims for symbolic inputs (repeatable). */
  shape: z.union([inputShapeSchema, z.array(inputShapeSchema).max(32)]).optional(),
});

/** A stored model (content-addressed by sha256). */
export const modelViewSchema = z.object({
  sha256: sha256HexSchema,
  name: z.string(),
  bytes: z.number().int().nonnegative(),
  evalSpec: z.string(),
  shapes: z.record(z.string(), z.array(z.number().int())),
  createdAt: serverTimeSchema,
});
export type ModelView = z.infer<typeof modelViewSchema>;

/**
 * Upload answer: `added` is false when the same bytes were already stored (HTTP 200 instead of 201);
 * `repaired` is true when those bytes were stored but the stored file was missing or damaged and was rewritten.
 */
export const modelUploadedSchema = z.object({ model: modelViewSchema, added: z.boolean(), repaired: z.boolean() });
export const modelListSchema = z.object({ models: z.array(modelViewSchema) });

/** `{sha}` path parameter: a full sha256, a unique prefix of at least 8 hex digits, or a model name (newest). */
export const modelParamsSchema = z.strictObject({
  sha: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'sha: a sha256, a prefix of 8+ hex digits, or a model name'),
});

/** A cached variant (model × recipe) with its host evaluation; `error` says why a recipe failed. */
export const variantViewSchema = z.object({
  modelSha: sha256HexSchema,
  recipe: z.string(),
  recipeKey: z.string(),
  precision: classPrecisionSchema,
  artifactSha: sha256HexSchema.nullable(),
  bytes: z.number().int().nullable(),
  /** Host evaluation (accuracy, agreement, latency percentiles, memory) as the evaluator reports it. */
  evaluation: z.record(z.string(), z.unknown()).nullable(),
  error: z.string().nullable(),
});
export const variantListSchema = z.object({ modelSha: sha256HexSchema, variants: z.array(variantViewSchema) });

/**
 * `POST /v1/plans`: plan a model for a class. Runs synchronously: the answer is the stored
 * plan once every candidate is built (cached variants make repeats immediate).
 */
export const planCreateSchema = z.strictObject({
  /** Model name (newest of that name), sha256 or a sha prefix. */
  model: z.string().min(1).max(64),
  class: classNameSchema,
  /** Candidate recipes (preset names); default the planner's candidates. The baseline is always added. */
  recipes: z.array(z.string().min(1).max(200)).min(1).max(20).optional(),
  /**
   * Multiply every speed factor of the class by this measured ÷ predicted latency ratio (the
   * closed loop's correction, by hand); the plan is stored apart from uncorrected ones.
   */
  correction: z.number().positive().max(1000).optional(),
  /** What to optimise within the budgets (shared/src/plan-objective.ts); default the class's, else energy. */
  objective: planObjectiveSchema.optional(),
});
export const planParamsSchema = z.strictObject({ id: z.coerce.number().int().positive() });
export const planListQuerySchema = z.strictObject({
  class: classNameSchema.optional(),
  model: z.string().min(1).max(64).optional(),
});
export const planListSchema = z.object({ plans: z.array(storedPlanSchema) });

/** `POST /v1/artifacts`, body: model bytes to store as a deployable artifact (content-addressed). */
export const artifactStoredSchema = z.object({
  sha256: sha256HexSchema,
  size: z.number().int().nonnegative(),
  chunkSize: z.number().int().positive(),
  chunkCount: z.number().int().nonnegative(),
});
