/**
 * Telemetry messages [EF-PROTO 8]: one measurement window per device and interval, and the
 * agent's local budget-breach events. Every figure says where it came from (`measured` by
 * the device, or `modelled` from a class model / a simulator's profile).
 */
import * as z from 'zod';
import { TELEMETRY_LIMITS as L } from '../limits.js';
import { classNameSchema, deviceIdSchema, epochMsSchema, header, sha256HexSchema } from './common.js';
import { deployIdSchema } from './deploy.js';

const nonNegative = z.number().finite().nonnegative();
/** Largest seq within one epoch (2^32 - 1: 1,300 years of 10 s windows). */
export const SEQ_MAX = 2 ** 32 - 1;
/** A telemetry sequence epoch: a short id the agent makes when its seq counter starts. */
export const epochSchema = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
/** A latency figure, ms, within what a device can report (TELEMETRY_LIMITS). */
const latency = nonNegative.max(L.maxLatencyMs);
const count = (max: number) => z.number().int().nonnegative().max(max);

/** Where a figure comes from [DESIGN: honest figures]. */
export const figureSourceSchema = z.enum(['measured', 'modelled']);
export type FigureSource = z.infer<typeof figureSourceSchema>;

/** Latency summary of one window, ms; null when the window had no inference. */
export const latencySummarySchema = z.strictObject({
  p50: latency,
  p95: latency,
  p99: latency,
  max: latency,
  mean: latency,
  /**
   * Optional label: `measured` when the figures come from timed inferences. A simulated device
   * running real inference on a faster host also sends `speedFactor`: its measured latencies
   * were multiplied by that modelled factor (class speed model × faults). Absent on real agents.
   */
  source: figureSourceSchema.optional(),
  speedFactor: z.number().finite().positive().max(L.maxSpeedFactor).optional(),
});
export type LatencySummary = z.infer<typeof latencySummarySchema>;

/** Average power over the window and energy per inference. */
export const powerFigureSchema = z.strictObject({
  /** Average watts over the window (whole package for RAPL, the sensor's rail for hwmon). */
  watts: nonNegative.max(L.maxWatts),
  /** Energy of the window ÷ inferences, mJ; null without inferences. */
  energyPerInferenceMj: nonNegative.max(L.maxEnergyPerInferenceMj).nullable(),
  source: figureSourceSchema,
  /** Which reader produced it: `rapl`, `hwmon`, `class-model`, `profile`, … */
  sensor: z.string().min(1).max(64),
});
export type PowerFigure = z.infer<typeof powerFigureSchema>;

/** Accuracy on the device: the last golden-set run, and the drift signal of live traffic. */
export const accuracyFigureSchema = z.strictObject({
  /** Fraction 0..1 of golden rows whose top-1 equals the label, for the serving model. */
  goldenAccuracy: z.number().min(0).max(1).optional(),
  /** When that golden run finished (device clock). */
  goldenAt: epochMsSchema.optional(),
  /** Mean top-1 probability of the live inferences of this window (softmax applied to logits). */
  meanTop1Confidence: z.number().min(0).max(1).optional(),
});

export const telemetryWindowSchema = z
  .strictObject({
    ...header('telemetry'),
    deviceId: deviceIdSchema,
    deviceClass: classNameSchema,
    /** Per device, +1 per window, persisted across agent restarts; the server dedupes and finds gaps by it. */
    seq: z.number().int().nonnegative().max(SEQ_MAX),
    /**
     * Names the life of the seq counter: a new one whenever the counter starts from 0 (a new
     * or wiped data directory), so the server recognises a restart [EF-PROTO 8.1]. Absent:
     * an agent whose counter predates epochs.
     */
    epoch: epochSchema.optional(),
    windowStart: epochMsSchema,
    windowEnd: epochMsSchema,
    /** The model serving at the end of the window (null: none). */
    model: z.strictObject({ sha256: sha256HexSchema, variantId: deployIdSchema }).nullable(),
    inferences: count(L.maxInferences),
    /** Inferences that failed (not in the latency figures). */
    errors: count(L.maxInferences),
    latencyMs: latencySummarySchema.nullable(),
    /** Busy time ÷ window length, 0..1. */
    dutyCycle: z.number().min(0).max(1),
    power: powerFigureSchema.nullable(),
    accuracy: accuracyFigureSchema,
    memory: z.strictObject({
      rssBytes: count(L.maxMemoryBytes),
      /** Bytes of the model loaded in the serving session (a lower bound of its share of RSS). */
      sessionBytes: count(L.maxMemoryBytes).optional(),
    }),
    thermal: z.strictObject({
      cpuTempC: z.number().finite().min(-100).max(250).optional(),
      /** True when the CPU was throttled (thermal throttle counters grew, or a simulator says so). */
      throttled: z.boolean().optional(),
    }),
    /** How the window was timed: `system` clock or a `virtual` one (simulations); `durationMs` by that clock. */
    clock: z.strictObject({ source: z.enum(['system', 'virtual']), durationMs: nonNegative.max(L.maxWindowMs) }),
    /**
     * The durable outbox: windows dropped since the agent's data dir was created (the bound was hit), and windows
     * waiting.
     */
    outbox: z.strictObject({ droppedTotal: count(L.maxOutboxCount), pending: count(L.maxOutboxCount) }),
    sentAt: epochMsSchema,
  })
  .refine((w) => w.windowEnd >= w.windowStart && w.windowEnd - w.windowStart <= L.maxWindowMs, {
    message: `windowEnd must not be before windowStart nor more than ${L.maxWindowMs} ms after it`,
    path: ['windowEnd'],
  });
export type TelemetryWindow = z.infer<typeof telemetryWindowSchema>;

/** Budgets the agent watches, with the unit of `measured` and `limit`. */
export const WATCHED_BUDGETS = {
  latencyP95Ms: { unit: 'ms', direction: 'max' },
  powerW: { unit: 'W', direction: 'max' },
  energyPerInferenceMj: { unit: 'mJ', direction: 'max' },
  minAccuracy: { unit: 'ratio', direction: 'min' },
} as const;
export type WatchedBudget = keyof typeof WATCHED_BUDGETS;

/**
 * Device → server on `events`, QoS 1: k of the last n windows broke one budget of the
 * serving manifest (`breached`), or none of the last n did any more (`recovered`).
 */
export const breachSchema = z.strictObject({
  ...header('breach'),
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  budget: z.enum(Object.keys(WATCHED_BUDGETS) as [WatchedBudget, ...WatchedBudget[]]),
  state: z.enum(['breached', 'recovered']),
  /** The budget's figure: the median of the breaking windows (breached) or of the last n (recovered). */
  measured: z.number().finite().min(-L.maxBreachFigure).max(L.maxBreachFigure),
  limit: z.number().finite().min(-L.maxBreachFigure).max(L.maxBreachFigure),
  unit: z.enum(['ms', 'W', 'mJ', 'ratio']),
  /** Windows that broke the budget among the last `n`, and the rule's k and n. */
  breachedWindows: z.number().int().nonnegative().max(1000),
  k: z.number().int().positive().max(1000),
  n: z.number().int().positive().max(1000),
  /**
   * Sequence numbers of the last n windows, oldest first. The last one is the window whose
   * close raised this event, so `(deviceId, budget, last seq)` names the event [EF-PROTO 8.2].
   */
  windowSeqs: z.array(z.number().int().nonnegative().max(SEQ_MAX)).min(1).max(1000),
  /** The epoch of those seqs (as in `telemetry`). */
  epoch: epochSchema.optional(),
  model: z.strictObject({ sha256: sha256HexSchema, variantId: deployIdSchema }).nullable(),
  /** Whether the device reported thermal throttling in any of those windows (a cohort hint). */
  throttled: z.boolean(),
  sentAt: epochMsSchema,
});
export type Breach = z.infer<typeof breachSchema>;

/**
 * What names a breach event for deduplication and acknowledgement [EF-PROTO 8.2]: its budget
 * and the seq of the window whose close raised it. The budget watcher raises at most one
 * event per budget per window and seqs are never reused, so no two events share it.
 */
export interface BreachIdentity {
  readonly budget: WatchedBudget;
  readonly seq: number;
}

export function breachIdentity(breach: Breach): BreachIdentity {
  return { budget: breach.budget, seq: breach.windowSeqs[breach.windowSeqs.length - 1] as number };
}
