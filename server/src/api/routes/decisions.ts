import { classParamsSchema, decisionListSchema, decisionsQuerySchema, stripUndefined } from '@edgefleet/shared';
import { listDecisions } from '../../control/decisions.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** The closed loop's decision log (server/src/control), read-only. */
export function decisionRoutes(deps: ApiDeps): AnyRoute[] {
  deps.metrics.register(() => {
    const byKind = new Map<string, number>();
    for (const d of deps.store.control.decisions()) byKind.set(d.kind, (byKind.get(d.kind) ?? 0) + 1);
    return [
      {
        name: 'edgefleet_control_decisions_total',
        help: 'Stored control-loop decisions, by kind (deploy, replan, alert, watching, recovered, …).',
        type: 'counter',
        samples: [...byKind].map(([kind, value]) => ({ labels: { kind }, value })),
      },
    ];
  });
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/classes/:name/decisions',
      tag: 'decisions',
      scope: 'read',
      summary:
        "The control loop's decisions for a class, oldest first: what it saw (snapshot summary), why, what it did, and the outcome.",
      params: classParamsSchema,
      query: decisionsQuerySchema,
      response: decisionListSchema,
      handler: ({ params, query }) => ({
        deviceClass: params.name,
        decisions: listDecisions(deps.store, {
          deviceClass: params.name,
          limit: query.limit,
          ...stripUndefined({ since: query.since }),
        }).map((d) => ({ ...d, summary: { ...d.summary } })),
      }),
    }),
  ];
}
