import {
  EdgefleetError,
  searchCreateSchema,
  searchListSchema,
  searchParamsSchema,
  searchStatusSchema,
} from '@edgefleet/shared';
import type { SearchJobs } from '../../plan/search-jobs.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/**
 * Hardware-aware searches: `POST /v1/searches` queues one and answers 202 with its status at
 * once; `GET /v1/searches/:id` polls it. When it finishes, the finalist is a variant of the
 * model and a new plan of the class includes it (the status names the plan).
 */
export function searchRoutes(deps: ApiDeps): AnyRoute[] {
  const searches = (): SearchJobs => {
    const s = deps.searches;
    if (!s)
      throw new EdgefleetError(
        'EF_ERR_SEARCH_OPTIONS',
        'this server runs no searches (no search runner; the CLI on a data directory without a running server has ' +
          'none): start `edgefleet server`, or run `edgefleet search MODEL.onnx --class C` on files',
        {},
      );
    return s;
  };
  return [
    jsonRoute({
      method: 'POST',
      url: '/v1/searches',
      tag: 'searches',
      scope: 'admin',
      summary:
        'Queue a hardware-aware search of a model for a class (pruning, distillation, per-layer precision; NSGA-II ' +
        'under the class budgets). Asynchronous: answers 202 with the status to poll.',
      body: searchCreateSchema,
      response: searchStatusSchema,
      status: 202,
      errors: ['EF_ERR_MODEL_NOT_FOUND', 'EF_ERR_CLASS_NOT_FOUND', 'EF_ERR_SEARCH_OPTIONS'],
      handler: ({ body }) => searches().start(body),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/searches',
      tag: 'searches',
      scope: 'read',
      summary: 'Searches since the server started, oldest first.',
      response: searchListSchema,
      errors: ['EF_ERR_SEARCH_OPTIONS'],
      handler: () => ({ searches: searches().list() }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/searches/:id',
      tag: 'searches',
      scope: 'read',
      summary:
        'One search: queued, running (with progress), done (front, finalist and the plan that includes it) or failed.',
      params: searchParamsSchema,
      response: searchStatusSchema,
      errors: ['EF_ERR_SEARCH_NOT_FOUND', 'EF_ERR_SEARCH_OPTIONS'],
      handler: ({ params }) => searches().get(params.id),
    }),
  ];
}
