import type { ApiDeps } from '../deps.js';
import type { AnyRoute } from '../route.js';
import { deviceRoutes } from './devices.js';
import { eventRoutes } from './events.js';
import { healthRoutes } from './health.js';
import { metricsRoutes } from './metrics.js';
import { tokenRoutes } from './tokens.js';

/**
 * Every area's routes. Each area owns one module (`routes/<area>.ts`) exporting
 * `(deps) => routes`; add classes, models, rollouts, telemetry and decisions here as they
 * land. `/openapi.json` is generated from whatever is listed.
 */
export const ROUTE_AREAS: ReadonlyArray<(deps: ApiDeps) => AnyRoute[]> = [
  healthRoutes,
  deviceRoutes,
  tokenRoutes,
  eventRoutes,
  metricsRoutes,
];
