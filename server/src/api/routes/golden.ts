import { GOLDEN_BODY_LIMIT_BYTES, goldenMadeSchema, goldenMakeSchema } from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/**
 * `POST /v1/golden`: a golden set for a variant, made from data
 * and run on this host (server/src/deploy/golden-service.ts).
 */
export function goldenRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'POST',
      url: '/v1/golden',
      tag: 'rollouts',
      scope: 'admin',
      summary:
        "Make a golden set for a variant from the MNIST test split (`mnist`), its model's registered evaluation data " +
        '(`auto`) or given samples; the variant runs it on this host and `minAccuracy` is its accuracy there minus ' +
        '`marginPts`. The report states how many rows fit for this model.',
      body: goldenMakeSchema,
      response: goldenMadeSchema,
      bodyLimitBytes: GOLDEN_BODY_LIMIT_BYTES,
      errors: ['EF_ERR_ROLLOUT_INVALID', 'EF_ERR_DATA_SOURCE', 'EF_ERR_DATA_SHAPE', 'EF_ERR_MODEL_NOT_FOUND'],
      handler: ({ body }) => deps.golden.make(body),
    }),
  ];
}
