import type { ApiDeps } from '../deps.js';
import { rawRoute, type AnyRoute } from '../route.js';

/** `GET /metrics`: Prometheus text exposition of every registered collector. */
export function metricsRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    rawRoute({
      method: 'GET',
      url: '/metrics',
      tag: 'metrics',
      scope: 'read',
      produces: 'text/plain; version=0.0.4',
      summary:
        'Prometheus metrics: devices online per class, rejected messages by reason, API requests, refused ' +
        'connections, enrollments.',
      async handle(_request, reply) {
        await reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render());
      },
    }),
  ];
}
