import { healthSchema, readinessSchema } from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** Liveness and readiness, without auth (load balancers and systemd watchdogs call them). */
export function healthRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/health',
      tag: 'health',
      scope: 'public',
      summary: 'The server process is up.',
      response: healthSchema,
      handler: () => ({
        status: 'ok' as const,
        version: deps.version,
        uptimeS: Math.max(0, (deps.now() - deps.startedAt) / 1000),
      }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/ready',
      tag: 'health',
      scope: 'public',
      summary: 'The store is open and the broker connection is up (503 otherwise, same body).',
      response: readinessSchema,
      statusFor: (readiness) => (readiness.ready ? 200 : 503),
      handler: () => deps.readiness(),
    }),
  ];
}
