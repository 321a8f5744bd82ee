import {
  classBudgetStatusSchema,
  classParamsSchema,
  classTelemetrySchema,
  deviceTelemetrySchema,
  EdgefleetError,
  idParamsSchema,
  seriesQuerySchema,
  statusQuerySchema,
  stripUndefined,
} from '@edgefleet/shared';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

type Range = { from?: number | undefined; to?: number | undefined; limit: number };
const range = (q: Range) => ({
  ...stripUndefined({ from: q.from, to: q.to }),
  limit: q.limit,
});

/** Telemetry series and budget status; thin over server/src/telemetry. */
export function telemetryRoutes(deps: ApiDeps): AnyRoute[] {
  deps.metrics.register(() => {
    const s = deps.telemetry.stats();
    const d = deps.telemetry.storeDelays();
    return [
      {
        name: 'edgefleet_telemetry_store_delay_seconds',
        help: 'From a device closing a window (its windowEnd) to the commit of the batch that stored it, seconds.',
        type: 'histogram',
        samples: [
          ...d.boundsMs.map((le, i) => ({
            labels: { le: String(le / 1000) },
            value: d.cumulative[i] ?? 0,
            suffix: '_bucket',
          })),
          { labels: { le: '+Inf' }, value: d.count, suffix: '_bucket' },
          { value: d.sumMs / 1000, suffix: '_sum' },
          { value: d.count, suffix: '_count' },
        ],
      },
      {
        name: 'edgefleet_telemetry_windows_ingested_total',
        help: 'Telemetry windows stored (first arrivals; duplicates are counted apart).',
        type: 'counter',
        samples: [{ value: s.windows }],
      },
      {
        name: 'edgefleet_telemetry_duplicates_total',
        help: 'Telemetry windows received again (same device and seq) and ignored.',
        type: 'counter',
        samples: [{ value: s.duplicates }],
      },
      {
        name: 'edgefleet_telemetry_breach_events_total',
        help: 'Budget breach and recovery events received from agents (first arrivals).',
        type: 'counter',
        samples: [{ value: s.breaches }],
      },
      {
        name: 'edgefleet_telemetry_failed_batches_total',
        help: 'Telemetry batches whose transaction failed; not acknowledged, so the agents send them again.',
        type: 'counter',
        samples: [{ value: s.failedBatches }],
      },
      {
        name: 'edgefleet_telemetry_acks_published_total',
        help: 'telemetry-ack messages sent to devices, one per device per committed batch.',
        type: 'counter',
        samples: [{ value: s.acksPublished }],
      },
    ];
  });
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/devices/:id/telemetry',
      tag: 'telemetry',
      scope: 'read',
      summary:
        "A device's telemetry windows (latency percentiles, power, energy, golden accuracy, thermal state), oldest " +
        'first, and its budget status.',
      params: idParamsSchema,
      query: seriesQuerySchema,
      response: deviceTelemetrySchema,
      errors: ['EF_ERR_DEVICE_NOT_FOUND'],
      handler: async ({ params, query }) => {
        const t = deps.telemetry;
        const known = (await t.device(params.id)) !== null || (await deps.registry.get(params.id)) !== null;
        if (!known)
          throw new EdgefleetError('EF_ERR_DEVICE_NOT_FOUND', `no device ${params.id}; GET /v1/devices lists them`, {
            id: params.id,
          });
        return {
          deviceId: params.id,
          windows: await t.deviceSeries(params.id, range(query)),
          status: await t.deviceBudgetStatus(params.id),
        };
      },
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/classes/:name/telemetry',
      tag: 'telemetry',
      scope: 'read',
      summary:
        'Per-minute rollups of a class (windows, inferences, mean and max p95, mean power, energy, golden accuracy, ' +
        'throttled windows).',
      params: classParamsSchema,
      query: seriesQuerySchema,
      response: classTelemetrySchema,
      handler: async ({ params, query }) => ({
        deviceClass: params.name,
        rollups: await deps.telemetry.classSeries(params.name, range(query)),
      }),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/classes/:name/status',
      tag: 'telemetry',
      scope: 'read',
      summary:
        'Budget status of a class now: per budget, how many active devices breach it (k of the last n windows), and ' +
        "each device's checks.",
      params: classParamsSchema,
      query: statusQuerySchema,
      response: classBudgetStatusSchema,
      handler: ({ params, query }) =>
        deps.telemetry.classBudgetStatus(params.name, {
          ...stripUndefined({ k: query.k, n: query.n }),
        }),
    }),
  ];
}
