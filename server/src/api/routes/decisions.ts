import { classParamsSchema, decisionListSchema, decisionsQuerySchema, stripUndefined } from '@edgefleet/shared';
import { listDecisions } from '../../control/decisions.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** The closed loop's decision log (server/src/control), read-only. */
export function decisionRoutes(deps: ApiDeps): AnyRoute[] {
  deps.metrics.register(async () => [
    {
      name: 'edgefleet_control_decisions_total',
      help: 'Stored control-loop decisions, by kind (deploy, replan, alert, watching, recovered, …).',
      type: 'counter',
      samples: Object.entries(await deps.decisions.countByKind()).map(([kind, value]) => ({ labels: { kind }, value })),
    },
  ]);
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/classes/:name/decisions',
      tag: 'decisions',
      scope: 'read',
      summary:
        "The control loop's decisions for a class, oldest first: what it saw (snapshot summary), why, what it did, " +
        'and the outcome.',
      params: classParamsSchema,
      query: decisionsQuerySchema,
      response: decisionListSchema,
      handler: async ({ params, query }) => ({
        deviceClass: params.name,
        decisions: await listDecisions(deps.decisions, {
          deviceClass: params.name,
          limit: query.limit,
          ...stripUndefined({ since: query.since }),
        }),
      }),
    }),
  ];
}
