import { z } from 'zod';
import { classPrecisionSchema } from '../budgets.js';
import { classNameSchema, sha256HexSchema } from '../messages/common.js';
import { storedPlanSchema } from '../plans.js';
import { serverTimeSchema } from './common.js';

/** Largest ONNX upload the API accepts by default: 256 MiB (`api.maxModelBytes` on the route). */
export const DEFAULT_MAX_MODEL_UPLOAD_BYTES = 256 * 1024 * 1024;

const modelNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'model name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');

/**
 * Evaluation data a model is judged on, as the API accepts it: `mnist`, `mnist:SPLIT[:N]` or
 * `random:N`. (Sample directories are for the CLI on the server host: the API does not take
 * server paths from callers.)
 */
export const apiEvalSpecSchema = z
  .string()
  .regex(/^(mnist(:[a-z]+(:\d+)?)?|random:\d{1,6})$/, 'eval: mnist, mnist:SPLIT[:N] or random:N');

/** `POST /v1/models?name=…&eval=…`, body: the ONNX bytes (`application/octet-stream`). */
export const modelUploadQuerySchema = z.strictObject({
  name: modelNameSchema,
  /** Default `mnist`. */
  eval: apiEvalSpecSchema.default('mnist'),
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

/** Upload answer: `added` is false when the same bytes were already stored (nothing changed; HTTP 200 instead of 201). */
/** `added`: new bytes; `repaired`: the same bytes were stored, but the stored file was missing or damaged and was rewritten. */
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
});
export const planParamsSchema = z.strictObject({ id: z.coerce.number().int().positive() });
export const planListQuerySchema = z.strictObject({
  class: classNameSchema.optional(),
  model: z.string().min(1).max(64).optional(),
});
export const planListSchema = z.object({ plans: z.array(storedPlanSchema) });
