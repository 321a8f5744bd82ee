import { z } from 'zod';
import {
  artifactStoredSchema,
  EdgefleetError,
  modelListSchema,
  modelParamsSchema,
  modelUploadedSchema,
  modelUploadQuerySchema,
  modelViewSchema,
  planCreateSchema,
  planListQuerySchema,
  planListSchema,
  planParamsSchema,
  storedPlanSchema,
  stripUndefined,
  variantListSchema,
} from '@edgefleet/shared';
import { loadModel } from '@edgefleet/compress';
import type { ModelRecord } from '../../plan/models.js';
import type { Variant } from '../../plan/variants.js';
import type { ApiDeps } from '../deps.js';
import { isLocalCaller, jsonRoute, type AnyRoute, type RequestAuth } from '../route.js';

const bytesBodySchema = (what: string) =>
  z.custom<Buffer>(
    (v) => Buffer.isBuffer(v) && v.length > 0,
    `body: the ${what} bytes, sent as Content-Type: application/octet-stream`,
  );

function modelView(m: ModelRecord): z.input<typeof modelViewSchema> {
  return {
    sha256: m.sha256,
    name: m.name,
    bytes: m.bytes,
    evalSpec: m.evalSpec,
    shapes: Object.fromEntries(Object.entries(m.shapes).map(([k, v]) => [k, [...v]])),
    createdAt: m.createdAt,
  };
}

function variantView(v: Variant) {
  return {
    modelSha: v.modelSha,
    recipe: v.recipe,
    recipeKey: v.recipeKey,
    precision: v.precision,
    artifactSha: v.artifactSha,
    bytes: v.bytes,
    evaluation: v.evaluation as Record<string, unknown> | null,
    error: v.error,
  };
}

/** `shape=x=1,3&shape=y=2` → `{x: [1, 3], y: [2]}`. */
function parseShapes(shape: string | readonly string[] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of typeof shape === 'string' ? [shape] : (shape ?? [])) {
    const eq = s.lastIndexOf('=');
    out[s.slice(0, eq)] = s
      .slice(eq + 1)
      .split(',')
      .map(Number);
  }
  return out;
}

/** A sample directory is a path on the server host: only a caller on that host may name one. */
function checkEvalSpec(spec: string, auth: RequestAuth): string {
  if (!spec.startsWith('/') || isLocalCaller(auth)) return spec;
  throw new EdgefleetError(
    'EF_ERR_API_VALIDATION',
    'invalid request query: eval: a sample directory is a path on the server host, which only the CLI on that host ' +
      '(edgefleet model add --data-dir) may name; use mnist, mnist:SPLIT[:N] or random:N',
    { issues: [{ path: 'query.eval', message: 'server paths only from the server host' }] },
  );
}

/**
 * Models, variants, plans and deployable artifacts; thin over server/src/plan and the
 * artifact store. `POST /v1/plans` plans synchronously (variants build one at a time in
 * worker threads): the answer can take minutes for an uncached model, and is immediate when
 * every variant is cached or the same plan exists.
 */
export function modelRoutes(deps: ApiDeps): AnyRoute[] {
  const { models, planner } = deps;
  return [
    jsonRoute({
      method: 'POST',
      url: '/v1/models',
      tag: 'models',
      scope: 'admin',
      consumes: 'application/octet-stream',
      bodyLimitBytes: deps.maxModelUploadBytes,
      summary:
        "Upload an ONNX model (raw bytes, application/octet-stream, at most the server's apiMaxModelBytes) as " +
        '?name=…&eval=…&shape=…; stored by sha256, so the same bytes again change nothing (200, added: false) ' +
        'unless the stored file was missing or damaged (repaired: true).',
      query: modelUploadQuerySchema,
      body: bytesBodySchema('ONNX file'),
      response: modelUploadedSchema,
      status: 201,
      statusFor: (r) => (r.added ? 201 : 200),
      errors: ['EF_ERR_MODEL_PARSE', 'EF_ERR_API_TOO_LARGE', 'EF_ERR_DATA_SOURCE'],
      handler: async ({ query, body, auth }) => {
        const { model, added, repaired } = await models.add({
          bytes: body,
          name: query.name,
          evalSpec: checkEvalSpec(query.eval, auth),
          shapes: parseShapes(query.shape),
        });
        if (added) deps.logger.info({ sha256: model.sha256, name: model.name, bytes: model.bytes }, 'model uploaded');
        if (repaired)
          deps.logger.warn({ sha256: model.sha256 }, 'stored model file was damaged; repaired from the upload');
        return { model: modelView(model), added, repaired };
      },
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/models',
      tag: 'models',
      scope: 'read',
      summary: 'Stored models, by name.',
      response: modelListSchema,
      handler: async () => ({ models: (await models.list()).map(modelView) }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/models/:sha',
      tag: 'models',
      scope: 'read',
      summary: 'One model by sha256, a unique prefix (8+ hex digits) or name (newest).',
      params: modelParamsSchema,
      response: modelViewSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND'],
      handler: async ({ params }) => modelView(await models.resolve(params.sha)),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/models/:sha/variants',
      tag: 'models',
      scope: 'read',
      summary:
        'Built variants of a model with their host evaluation (accuracy, agreement, latency, size), or why a ' +
        'recipe failed.',
      params: modelParamsSchema,
      response: variantListSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND'],
      handler: async ({ params }) => {
        const model = await models.resolve(params.sha);
        return { modelSha: model.sha256, variants: (await planner.variants.list(model.sha256)).map(variantView) };
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/artifacts',
      tag: 'models',
      scope: 'admin',
      consumes: 'application/octet-stream',
      bodyLimitBytes: deps.maxModelUploadBytes,
      status: 201,
      summary:
        'Store model bytes as a deployable artifact (content-addressed; the same bytes again change nothing) and ' +
        'return its chunk layout; roll it out with POST /v1/rollouts {variant: sha256}.',
      body: bytesBodySchema('model'),
      response: artifactStoredSchema,
      errors: ['EF_ERR_API_TOO_LARGE', 'EF_ERR_MODEL_PARSE'],
      handler: async ({ body }) => {
        // Agents load what they are sent with onnxruntime: refuse anything that is not an ONNX model here.
        loadModel(body);
        const layout = await deps.artifacts.put(body);
        return { sha256: layout.sha256, size: layout.size, chunkSize: layout.chunkSize, chunkCount: layout.chunkCount };
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/plans',
      tag: 'plans',
      scope: 'admin',
      summary:
        'Plan a model for a class: build (or reuse) candidate variants, predict, keep the Pareto front, choose. ' +
        'Synchronous; repeats with the same inputs return the stored plan (reused: true).',
      body: planCreateSchema,
      response: storedPlanSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND', 'EF_ERR_CLASS_NOT_FOUND', 'EF_ERR_PLAN_FAILED'],
      handler: ({ body }) =>
        planner.plan({
          model: body.model,
          deviceClass: body.class,
          ...stripUndefined({ recipes: body.recipes, objective: body.objective }),
          ...(body.correction === undefined
            ? {}
            : { speedModelOverride: { ratio: body.correction, label: 'cli-correction' } }),
          // Progress goes out on the event bus: `edgefleet plan` follows it on GET /v1/events.
          onProgress: (p) =>
            void deps.events.publish({
              type: 'plan.progress',
              model: body.model,
              deviceClass: p.deviceClass,
              recipe: p.recipe,
              done: p.done,
              total: p.total,
              cached: p.cached,
              ...stripUndefined({ phase: p.phase, result: p.result }),
            }),
        }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/plans',
      tag: 'plans',
      scope: 'read',
      summary: 'Stored plans that are still valid, optionally of one class or model, oldest first.',
      query: planListQuerySchema,
      response: planListSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND'],
      handler: async ({ query }) => ({
        plans: await planner.list(stripUndefined({ deviceClass: query.class, model: query.model })),
      }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/plans/:id',
      tag: 'plans',
      scope: 'read',
      summary: 'One stored plan: every candidate with its predictions and violations, the Pareto front and the choice.',
      params: planParamsSchema,
      response: storedPlanSchema,
      errors: ['EF_ERR_PLAN_NOT_FOUND'],
      handler: ({ params }) => planner.get(params.id),
    }),
  ];
}
