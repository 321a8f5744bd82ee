/**
 * Per-class predictions from host measurements. Pure. Device latency is predicted, never
 * measured: host p95 (measured here) × the class's speed factor for the variant's compute
 * precision. Energy per inference = active watts × predicted latency (W × ms = mJ); average
 * power assumes the class's workload rate: idle + (active − idle) × duty cycle.
 */
import {
  speedModelOverrideSchema,
  stripUndefined,
  type DeviceClass,
  type Precision,
  type SpeedModel,
  type SpeedModelOverride,
} from '@edgefleet/shared';
import type { EvalResult } from '@edgefleet/compress';

/** The speed model a plan uses: the class's, possibly corrected by the closed loop. */
export interface EffectiveSpeedModel {
  readonly version: string;
  readonly factors: Partial<Record<Precision, number>>;
  readonly status: SpeedModel['status'];
  /** The correction applied, if any (as given, normalised). */
  readonly override: {
    readonly label: string;
    readonly ratio?: number;
    readonly factors?: Partial<Record<Precision, number>>;
  } | null;
}

/** Applies an override (factors first, then the ratio) to a class speed model. */
export function effectiveSpeedModel(base: SpeedModel, overrideInput?: SpeedModelOverride): EffectiveSpeedModel {
  if (!overrideInput)
    return { version: base.version, factors: { ...base.factors }, status: base.status, override: null };
  const o = speedModelOverrideSchema.parse(overrideInput);
  const factors: Partial<Record<Precision, number>> = { ...base.factors, ...o.factors };
  if (o.ratio !== undefined)
    for (const k of Object.keys(factors) as Precision[]) factors[k] = round((factors[k] ?? 0) * o.ratio, 6);
  const tag = [o.label, o.ratio === undefined ? '' : `x${o.ratio}`].filter(Boolean).join(':');
  return {
    version: `${base.version}+${tag}`,
    factors,
    status: 'calibrated',
    override: {
      label: o.label,
      ...stripUndefined({ ratio: o.ratio, factors: o.factors }),
    },
  };
}

/** What the planner predicts for one variant on one class. */
export interface Prediction {
  /** Always `predicted` (host measurement × modelled factor), so no one reads it as measured. */
  readonly source: 'predicted';
  readonly hostP95Ms: number;
  /** Samples per call the figures are for, when not 1 (the class's workload batch). */
  readonly batch?: number;
  readonly speedFactor: number;
  readonly p95LatencyMs: number;
  readonly energyPerInferenceMj: number;
  readonly avgPowerW: number;
  readonly powerLabel: 'modelled';
}

/** The batch a class's devices run each call at (`powerModel.workloadBatch`, default 1). */
export function workloadBatchOf(cls: Pick<DeviceClass, 'powerModel'>): number {
  return cls.powerModel.workloadBatch ?? 1;
}

/**
 * The host p95 a class's prediction starts from: measured at the class's workload batch (batch 1
 * is the evaluation's own figure); null when that batch was not measured.
 */
export function hostP95At(evaluation: EvalResult | null, cls: Pick<DeviceClass, 'powerModel'>): number | null {
  const batch = workloadBatchOf(cls);
  const latency = batch === 1 ? evaluation?.latency : evaluation?.latencyByBatch?.[String(batch)];
  return latency?.p95Ms ?? null;
}

/** Rounds to `digits` decimals, so stored plans carry stable, readable numbers. */
export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Predicts latency, energy and average power of a variant (host p95 in ms) at a precision; null when the class has no
 * figures for it.
 */
export function predict(
  hostP95Ms: number,
  precision: Precision,
  cls: Pick<DeviceClass, 'powerModel'>,
  speed: EffectiveSpeedModel,
): Prediction | null {
  // Per call at the class's batch: energy is per call, the duty cycle counts calls (workloadHz).
  const factor = speed.factors[precision];
  const activeW = cls.powerModel.activeW[precision];
  if (factor === undefined || activeW === undefined) return null;
  const latencyMs = hostP95Ms * factor;
  const duty = Math.min(1, (cls.powerModel.workloadHz * latencyMs) / 1000);
  return {
    source: 'predicted',
    hostP95Ms: round(hostP95Ms),
    ...(workloadBatchOf(cls) === 1 ? {} : { batch: workloadBatchOf(cls) }),
    speedFactor: factor,
    p95LatencyMs: round(latencyMs),
    energyPerInferenceMj: round(activeW * latencyMs),
    avgPowerW: round(cls.powerModel.idleW + (activeW - cls.powerModel.idleW) * duty),
    powerLabel: 'modelled',
  };
}
