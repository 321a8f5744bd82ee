/**
 * Device classes as data: what the hardware executes (capabilities), how fast it runs each
 * precision relative to the server host (speed model), what it draws (power model, always
 * labelled `modelled` until telemetry replaces it) and what the fleet owner accepts (budgets).
 * The planner, the admin API and the control loop all read these schemas; no I/O here.
 */
import * as z from 'zod';
import { classNameSchema } from './messages/common.js';
import { planObjectiveSchema } from './plan-objective.js';

/** Precisions a runtime may execute. Kept in step with `precisionSchema` in messages/common.ts. */
export const PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'] as const;

/** A precision, with a message that lists the known ones (e.g. for `"bf16"`). */
export const classPrecisionSchema = z.enum(PRECISIONS, {
  error: (iss) => `unknown precision ${JSON.stringify(iss.input)}: use one of ${PRECISIONS.join(', ')}`,
});

/** Factors per precision; every factor must be a positive finite number. */
const perPrecision = (what: string) =>
  z.partialRecord(
    classPrecisionSchema,
    z
      .number({ error: `${what} must be a number` })
      .finite()
      .positive(`${what} must be greater than 0`),
  );

/** What the class's runtime can execute and hold. */
export const classCapabilitiesSchema = z.strictObject({
  /** Precisions its runtime executes well; a variant whose compute precision is not listed is not a candidate. */
  precisions: z
    .array(classPrecisionSchema)
    .min(1, 'a class executes at least one precision')
    .refine((p) => new Set(p).size === p.length, 'precisions are listed twice'),
  /** RAM available to inference, bytes. */
  memoryBytes: z.number().int().positive('memoryBytes must be greater than 0'),
  /** Storage available for model files, bytes. */
  storageBytes: z.number().int().positive('storageBytes must be greater than 0'),
  cores: z.number().int().positive('cores must be at least 1'),
  /** Free text: the processor or accelerator the figures describe. */
  processor: z.string().max(200).default(''),
});
export type ClassCapabilities = z.infer<typeof classCapabilitiesSchema>;

/**
 * Speed model: device latency ÷ host latency of the same variant, per compute precision. A
 * predicted device latency is the host measurement times the factor: modelled, never measured.
 */
export const speedModelSchema = z.strictObject({
  /** Changes whenever a factor changes; plans record it. */
  version: z.string().min(1).max(64),
  factors: perPrecision('a speed factor'),
  /** `modelled` (from published figures) or `calibrated` (corrected from telemetry). */
  status: z.enum(['modelled', 'calibrated']).default('modelled'),
});
export type SpeedModel = z.infer<typeof speedModelSchema>;

/** Power model: watts idle and while inferring, per precision. Always a model, never a measurement. */
export const powerModelSchema = z.strictObject({
  label: z.literal('modelled').default('modelled'),
  idleW: z.number().finite().nonnegative('idleW cannot be negative'),
  activeW: perPrecision('an active power figure'),
  /** Assumed inference rate for average power, Hz; default 1 (one inference a second). */
  workloadHz: z.number().finite().positive('workloadHz must be greater than 0').default(1),
  /**
   * Samples per inference call the class's devices run (a camera batching frames, a batch job);
   * absent: 1. The planner predicts latency (and so energy and power) per call at this batch,
   * from a host measurement at the same batch: a batch-1 figure does not scale to it.
   */
  workloadBatch: z
    .number()
    .int('workloadBatch must be a whole number of samples')
    .positive('workloadBatch must be at least 1')
    .max(4096, 'workloadBatch must be at most 4096')
    .optional(),
});
export type PowerModel = z.infer<typeof powerModelSchema>;

/** What the fleet owner accepts. Every field is optional; an absent budget never fails. */
export const budgetsSchema = z
  .strictObject({
    maxModelBytes: z
      .number({ error: 'maxModelBytes must be a number of bytes' })
      .int('maxModelBytes must be a whole number of bytes')
      .positive('maxModelBytes must be greater than 0')
      .optional(),
    maxP95LatencyMs: z
      .number({ error: 'maxP95LatencyMs must be a number' })
      .finite()
      .positive('maxP95LatencyMs must be greater than 0 ms (a latency cannot be negative)')
      .optional(),
    maxAvgPowerW: z
      .number({ error: 'maxAvgPowerW must be a number' })
      .finite()
      .positive('maxAvgPowerW must be greater than 0 W')
      .optional(),
    maxEnergyPerInferenceMj: z
      .number({ error: 'maxEnergyPerInferenceMj must be a number' })
      .finite()
      .positive('maxEnergyPerInferenceMj must be greater than 0 mJ')
      .optional(),
    /** Minimum accuracy in percent (0–100), absolute. */
    minAccuracyPct: z
      .number({ error: 'minAccuracyPct must be a number' })
      .min(0, 'minAccuracyPct cannot be negative')
      .max(100, 'minAccuracyPct is a percentage and cannot be above 100')
      .optional(),
    /** Maximum accuracy drop from the original model, in percentage points. */
    maxAccuracyDropPts: z
      .number({ error: 'maxAccuracyDropPts must be a number' })
      .min(0, 'maxAccuracyDropPts cannot be negative')
      .max(100, 'maxAccuracyDropPts cannot be above 100 points')
      .optional(),
  })
  .refine((b) => b.minAccuracyPct === undefined || b.maxAccuracyDropPts === undefined, {
    message: 'give minAccuracyPct (absolute) or maxAccuracyDropPts (relative to the original), not both',
    path: ['minAccuracyPct'],
  });
export type Budgets = z.infer<typeof budgetsSchema>;

/** The names budgets are reported under when they fail. */
export type BudgetName = keyof Budgets;

/** Where each figure of a profile comes from: `figure` → source text. */
export const profileSourcesSchema = z.record(z.string(), z.string());

/** A device class as the user gives it (create, or the whole document on update). */
export const deviceClassInputSchema = z
  .strictObject({
    name: classNameSchema,
    description: z.string().max(500).default(''),
    capabilities: classCapabilitiesSchema,
    speedModel: speedModelSchema,
    powerModel: powerModelSchema,
    budgets: budgetsSchema,
    sources: profileSourcesSchema.default({}),
    /** What the planner optimises within the budgets for this class; absent: the default (energy). */
    objective: planObjectiveSchema.optional(),
  })
  .superRefine((c, ctx) => {
    // The planner predicts latency and power per executable precision, so each needs its figures.
    for (const p of c.capabilities.precisions) {
      if (c.speedModel.factors[p] === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['speedModel', 'factors', p],
          message: `the class executes ${p} but its speed model has no ${p} factor`,
        });
      if (c.powerModel.activeW[p] === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['powerModel', 'activeW', p],
          message: `the class executes ${p} but its power model has no ${p} active watts`,
        });
    }
  });
export type DeviceClassInput = z.input<typeof deviceClassInputSchema>;
export type DeviceClassSpec = z.infer<typeof deviceClassInputSchema>;

/** A stored class: the spec plus its server-managed version (bumped by every update). */
export const deviceClassSchema = deviceClassInputSchema.safeExtend({
  version: z.number().int().positive(),
  createdAt: z.number().int().nonnegative(),
  updatedAt: z.number().int().nonnegative(),
});
export type DeviceClass = z.infer<typeof deviceClassSchema>;

/** A partial update: any top-level part; nested objects replace per field. */
export const deviceClassPatchSchema = z.strictObject({
  description: z.string().max(500).optional(),
  capabilities: classCapabilitiesSchema.partial().optional(),
  speedModel: speedModelSchema.partial().optional(),
  powerModel: powerModelSchema.partial().optional(),
  budgets: budgetsSchema.optional(),
  sources: profileSourcesSchema.optional(),
  /** null clears the class's objective (back to the default). */
  objective: planObjectiveSchema.nullable().optional(),
});
export type DeviceClassPatch = z.infer<typeof deviceClassPatchSchema>;

/**
 * A correction to a class's speed model, as the closed loop feeds it back: either a ratio
 * (measured ÷ predicted latency, applied to every factor) or explicit factors, or both
 * (factors first, then the ratio). Plans record the resulting version.
 */
export const speedModelOverrideSchema = z.strictObject({
  ratio: z.number().finite().positive('a correction ratio must be greater than 0').optional(),
  factors: perPrecision('a speed factor').optional(),
  /** Names the correction in the plan, e.g. `telemetry-2026-11-28T10:00`. */
  label: z.string().min(1).max(64).default('override'),
});
export type SpeedModelOverride = z.input<typeof speedModelOverrideSchema>;
