import { jobListQuerySchema, jobListSchema } from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/**
 * Compression jobs on the shared queue (issue 20): what waits, runs (with the step it reached)
 * and failed (with why), whichever replica or `edgefleet worker` holds it. A server on SQLite
 * builds in-process and has no queue: it answers `queue: in-process` and no jobs; its builds
 * show as plan progress instead.
 */
export function jobRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/jobs',
      tag: 'jobs',
      scope: 'read',
      summary:
        'Variant builds on the job queue, newest first: state, attempts, the step reached and its share of the ' +
        'build, and the error of a failed run. `?id=` for one job, `?limit=` (default 50).',
      query: jobListQuerySchema,
      response: jobListSchema,
      errors: [],
      handler: async ({ query }) =>
        deps.jobs
          ? {
              queue: 'postgres' as const,
              jobs: await deps.jobs.jobs(query.id === undefined ? { limit: query.limit } : { id: query.id }),
            }
          : { queue: 'in-process' as const, jobs: [] },
    }),
  ];
}
