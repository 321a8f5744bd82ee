import { z } from 'zod';
import {
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
  variantListSchema,
} from '@edgefleet/shared';
import { addModel, listModels, resolveModel, type ModelRecord } from '../../plan/models.js';
import type { Planner } from '../../plan/planner.js';
import { createMeteredPlanner } from '../collectors.js';
import type { Variant } from '../../plan/variants.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

const uploadBodySchema = z.custom<Buffer>(
  (v) => Buffer.isBuffer(v) && v.length > 0,
  'body: the ONNX file bytes, sent as Content-Type: application/octet-stream',
);

function modelView(m: ModelRecord): z.input<typeof modelViewSchema> {
  return {
    sha256: m.sha256,
    name: m.name,
    bytes: m.bytes,
    evalSpec: m.evalSpec,
    shapes: m.shapes as Record<string, number[]>,
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

/**
 * Models, variants and plans; thin over server/src/plan. `POST /v1/plans` plans synchronously
 * (variants build one at a time in worker threads): the answer can take minutes for an
 * uncached model, and is immediate when every variant is cached or the same plan exists.
 */
export function modelRoutes(deps: ApiDeps): AnyRoute[] {
  // The server passes its shared planner; an API built on its own (tests) meters one of its own.
  let own: Planner | null = null;
  const planner = (): Planner => {
    const shared = deps.planner?.();
    if (shared) return shared;
    own ??= createMeteredPlanner({ store: deps.store, dataDir: deps.dataDir, now: deps.now, metrics: deps.metrics });
    return own;
  };
  return [
    jsonRoute({
      method: 'POST',
      url: '/v1/models',
      tag: 'models',
      scope: 'admin',
      consumes: 'application/octet-stream',
      bodyLimitBytes: deps.maxModelUploadBytes,
      summary: `Upload an ONNX model (raw bytes, application/octet-stream, at most the server's apiMaxModelBytes) as ?name=…&eval=…; stored by sha256, so the same bytes again change nothing (200, added: false) unless the stored file was damaged (repaired: true).`,
      query: modelUploadQuerySchema,
      body: uploadBodySchema,
      response: modelUploadedSchema,
      status: 201,
      statusFor: (r) => (r.added ? 201 : 200),
      errors: ['EF_ERR_MODEL_PARSE', 'EF_ERR_API_TOO_LARGE'],
      handler: async ({ query, body }) => {
        const { model, added, repaired } = await addModel({
          store: deps.store,
          dataDir: deps.dataDir,
          bytes: body,
          name: query.name,
          evalSpec: query.eval,
          now: deps.now(),
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
      handler: () => ({ models: listModels(deps.store).map(modelView) }),
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
      handler: ({ params }) => modelView(resolveModel(deps.store, params.sha)),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/models/:sha/variants',
      tag: 'models',
      scope: 'read',
      summary:
        'Built variants of a model with their host evaluation (accuracy, agreement, latency, size), or why a recipe failed.',
      params: modelParamsSchema,
      response: variantListSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND'],
      handler: ({ params }) => {
        const model = resolveModel(deps.store, params.sha);
        return { modelSha: model.sha256, variants: planner().variants.list(model.sha256).map(variantView) };
      },
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/plans',
      tag: 'plans',
      scope: 'admin',
      summary:
        'Plan a model for a class: build (or reuse) candidate variants, predict, keep the Pareto front, choose. Synchronous; repeats with the same inputs return the stored plan (reused: true).',
      body: planCreateSchema,
      response: storedPlanSchema,
      errors: ['EF_ERR_MODEL_NOT_FOUND', 'EF_ERR_CLASS_NOT_FOUND', 'EF_ERR_PLAN_FAILED'],
      handler: ({ body }) =>
        planner().plan({
          model: body.model,
          deviceClass: body.class,
          ...(body.recipes ? { recipes: body.recipes } : {}),
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
      handler: ({ query }) => ({
        plans: planner().list({
          ...(query.class ? { deviceClass: query.class } : {}),
          ...(query.model ? { model: query.model } : {}),
        }),
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
      handler: ({ params }) => {
        const row = deps.store.planner.getPlan(params.id);
        if (!row)
          throw new EdgefleetError('EF_ERR_PLAN_NOT_FOUND', `no plan ${params.id}; GET /v1/plans lists them`, {
            id: params.id,
          });
        return {
          id: row.id,
          createdAt: row.createdAt,
          reused: true,
          plan: row.plan as z.input<typeof storedPlanSchema>['plan'],
        };
      },
    }),
  ];
}
