import * as z from 'zod';
import { classNameSchema } from '../messages/common.js';
import { serverTimeSchema } from './common.js';

/**
 * `?from=&to=&limit=` of the series routes: server times in ms; at most `limit` rows from `from` on, oldest first
 * (default 500, at most 10000).
 */
export const seriesQuerySchema = z.strictObject({
  from: z.coerce.number().int().nonnegative().optional(),
  to: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});

const nullableNumber = z.number().nullable();

/** One telemetry window of a device as stored (latency percentiles in ms, power in W, energy in mJ). */
export const telemetryWindowViewSchema = z.object({
  seq: z.number().int(),
  deviceClass: z.string(),
  windowStart: serverTimeSchema,
  windowEnd: serverTimeSchema,
  receivedAt: serverTimeSchema,
  modelSha: z.string().nullable(),
  variantId: z.string().nullable(),
  inferences: z.number().int(),
  errors: z.number().int(),
  p50Ms: nullableNumber,
  p95Ms: nullableNumber,
  p99Ms: nullableNumber,
  maxMs: nullableNumber,
  meanMs: nullableNumber,
  dutyCycle: z.number(),
  powerW: nullableNumber,
  energyMj: nullableNumber,
  powerSource: z.enum(['measured', 'modelled']).nullable(),
  goldenAccuracy: nullableNumber,
  confidence: nullableNumber,
  rssBytes: z.number(),
  cpuTempC: nullableNumber,
  throttled: z.boolean().nullable(),
  droppedTotal: z.number().int(),
});

const budgetCheckSchema = z.object({
  budget: z.string(),
  limit: z.number(),
  unit: z.string(),
  measured: nullableNumber,
  windows: z.number().int(),
  breachedWindows: z.number().int(),
  breached: z.boolean(),
});

const deviceBudgetStatusSchema = z.object({
  deviceId: z.string(),
  deviceClass: z.string(),
  lastWindowEnd: serverTimeSchema.nullable(),
  modelSha: z.string().nullable(),
  variantId: z.string().nullable(),
  throttled: z.boolean(),
  meanP95Ms: nullableNumber,
  checks: z.array(budgetCheckSchema),
  breached: z.boolean(),
});

/** `GET /v1/devices/{id}/telemetry`: the device's windows (oldest first) and its budget status now. */
export const deviceTelemetrySchema = z.object({
  deviceId: z.string(),
  windows: z.array(telemetryWindowViewSchema),
  /** null when the device never sent a window. */
  status: deviceBudgetStatusSchema.nullable(),
});

/** `GET /v1/classes/{name}/telemetry`: per-minute rollups of the class (means over windows that had the figure). */
export const classTelemetrySchema = z.object({
  deviceClass: classNameSchema,
  rollups: z.array(
    z.object({
      minute: serverTimeSchema,
      windows: z.number().int(),
      inferences: z.number().int(),
      meanP95Ms: nullableNumber,
      maxP95Ms: nullableNumber,
      meanPowerW: nullableNumber,
      meanEnergyMj: nullableNumber,
      meanGoldenAccuracy: nullableNumber,
      meanConfidence: nullableNumber,
      throttledWindows: z.number().int(),
    }),
  ),
});

/** `?k=&n=` of the status route: k breaking windows of the last n make a device breach (defaults 3 of 5). */
export const statusQuerySchema = z
  .strictObject({
    k: z.coerce.number().int().min(1).max(100).optional(),
    n: z.coerce.number().int().min(1).max(100).optional(),
  })
  .refine((q) => q.k === undefined || q.n === undefined || q.k <= q.n, { message: 'k must not exceed n', path: ['k'] });

/** `GET /v1/classes/{name}/status`: budget status of the class's active devices. */
export const classBudgetStatusSchema = z.object({
  deviceClass: z.string(),
  budgets: z.record(z.string(), z.number()),
  budgetSource: z.enum(['class', 'manifest', 'none']),
  activeDevices: z.number().int(),
  breachingDevices: z.number().int(),
  throttledDevices: z.number().int(),
  summary: z.array(
    z.object({
      budget: z.string(),
      limit: z.number(),
      devices: z.number().int(),
      breaching: z.number().int(),
      fraction: z.number(),
      measured: nullableNumber,
    }),
  ),
  devices: z.array(deviceBudgetStatusSchema),
});

/** `GET /v1/events/recent`: the newest fleet events still in the bus's ring, oldest first. */
export const recentEventsQuerySchema = z.strictObject({
  /** Only events after this sequence number. */
  after: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  types: z.string().max(1000).optional(),
});
