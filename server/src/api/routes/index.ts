import type { ApiDeps } from '../deps.js';
import type { AnyRoute } from '../route.js';
import { brokerRoutes } from './broker.js';
import { classRoutes } from './classes.js';
import { decisionRoutes } from './decisions.js';
import { deviceRoutes } from './devices.js';
import { eventRoutes } from './events.js';
import { goldenRoutes } from './golden.js';
import { healthRoutes } from './health.js';
import { jobRoutes } from './jobs.js';
import { metricsRoutes } from './metrics.js';
import { modelRoutes } from './models.js';
import { rolloutRoutes } from './rollouts.js';
import { searchRoutes } from './searches.js';
import { telemetryRoutes } from './telemetry.js';
import { tokenRoutes } from './tokens.js';

/**
 * Every area's routes. Each area owns one module (`routes/<area>.ts`) exporting
 * `(deps) => routes`; add new areas here. `/openapi.json` is generated from whatever is listed.
 */
export const ROUTE_AREAS: ReadonlyArray<(deps: ApiDeps) => AnyRoute[]> = [
  healthRoutes,
  deviceRoutes,
  tokenRoutes,
  brokerRoutes,
  classRoutes,
  modelRoutes,
  searchRoutes,
  jobRoutes,
  rolloutRoutes,
  goldenRoutes,
  telemetryRoutes,
  decisionRoutes,
  eventRoutes,
  metricsRoutes,
];
