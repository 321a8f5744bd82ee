import { z } from 'zod';
import { UNIT_OPS, type CostUnit, type UnitOp, type UnitPrecision } from './units.js';

/**
 * The latency cost model: host latency of a graph = the fixed cost of one `run()` call + the sum
 * over its units of (a per-unit cost + a cost per multiply-accumulate + a cost per output
 * element), with coefficients per unit kind and precision fitted to microbenchmarks measured on
 * this host (microbench.ts). Device latency scales each part by the class's speed factor for the
 * precision it runs in, times a telemetry correction when the closed loop has one. Pure.
 */
export const UNIT_PRECISIONS = ['fp32', 'fp16', 'int8'] as const satisfies readonly UnitPrecision[];

/** Coefficients of one unit kind at one precision (milliseconds; per million MACs / elements). */
export const coefficientsSchema = z.strictObject({
  perUnitMs: z.number().nonnegative(),
  perMMacMs: z.number().nonnegative(),
  perMElementMs: z.number().nonnegative(),
});
export type Coefficients = z.infer<typeof coefficientsSchema>;

/** What the figures describe: the same table is valid only on the same CPU, runtime and threads. */
export const hostFingerprintSchema = z.strictObject({
  cpu: z.string(),
  cores: z.number().int().positive(),
  runtime: z.string(),
  threads: z.number().int().positive(),
});
export type HostFingerprint = z.infer<typeof hostFingerprintSchema>;

/** One microbenchmark graph as measured and as the fitted model predicts it (in-sample). */
export const sampleSchema = z.strictObject({
  name: z.string(),
  batch: z.number().int().positive(),
  precision: z.enum(UNIT_PRECISIONS),
  measuredMs: z.number().nonnegative(),
  predictedMs: z.number().nonnegative(),
});

/** A fitted table, as cached on disk (`v` bumps when the features change). */
export const latencyTableSchema = z.strictObject({
  v: z.literal(1),
  source: z.literal('measured'),
  host: hostFingerprintSchema,
  measuredAt: z.string(),
  /** Fixed cost of one `run()` call (feeds, outputs, the session's own bookkeeping). */
  callMs: z.number().nonnegative(),
  /** Keyed `op/precision`, e.g. `conv/int8`. */
  coefficients: z.record(z.string(), coefficientsSchema),
  /** Mean absolute percentage error of the fit on its own microbenchmarks. */
  fitMape: z.number().nonnegative(),
  samples: z.array(sampleSchema),
});
export type LatencyTable = z.infer<typeof latencyTableSchema>;

export const coefficientKey = (op: UnitOp, precision: UnitPrecision): string => `${op}/${precision}`;

/** The coefficients that price a unit: its own kind and precision, else the same kind in fp32. */
function coefficientsFor(table: Pick<LatencyTable, 'coefficients'>, u: CostUnit): Coefficients | undefined {
  return table.coefficients[coefficientKey(u.op, u.precision)] ?? table.coefficients[coefficientKey(u.op, 'fp32')];
}

/** Host milliseconds of one unit. */
export function unitMs(table: Pick<LatencyTable, 'coefficients'>, u: CostUnit): number {
  const c = coefficientsFor(table, u);
  if (!c) return 0;
  return c.perUnitMs + (c.perMMacMs * u.macs) / 1e6 + (c.perMElementMs * u.elements) / 1e6;
}

/** A prediction and where its time goes. */
export interface LatencyPrediction {
  readonly ms: number;
  readonly callMs: number;
  /** Milliseconds per precision (units only). */
  readonly byPrecision: Readonly<Partial<Record<UnitPrecision, number>>>;
  /** Units no coefficient priced (a kind the microbenchmarks never ran): counted as 0 ms. */
  readonly unpriced: readonly string[];
}

/** Predicted host latency of a graph's units (one `run()` call). */
export function predictHostMs(
  table: Pick<LatencyTable, 'coefficients' | 'callMs'>,
  units: readonly CostUnit[],
): LatencyPrediction {
  const byPrecision: Partial<Record<UnitPrecision, number>> = {};
  const unpriced: string[] = [];
  let ms = table.callMs;
  for (const u of units) {
    if (!coefficientsFor(table, u)) unpriced.push(`${u.node} (${coefficientKey(u.op, u.precision)})`);
    const t = unitMs(table, u);
    byPrecision[u.precision] = (byPrecision[u.precision] ?? 0) + t;
    ms += t;
  }
  return { ms, callMs: table.callMs, byPrecision, unpriced };
}

/** A class's speed model as the predictor needs it: device ÷ host latency per precision, and a correction. */
export interface DeviceSpeed {
  /** Speed factors per compute precision (shared/budgets `speedModel.factors`, with any override applied). */
  readonly factors: Readonly<Partial<Record<'fp32' | 'fp16' | 'int8' | 'int4', number>>>;
  /** Measured ÷ predicted latency from telemetry (the closed loop's correction); default 1. */
  readonly correction?: number;
}

/**
 * Predicted device latency: the call cost at the fp32 factor (bookkeeping runs on the CPU) and
 * each precision's units at that precision's factor, times the correction. Null when the class
 * has no factor for a precision the graph computes in (it cannot execute it).
 */
export function predictDeviceMs(prediction: LatencyPrediction, speed: DeviceSpeed): number | null {
  const base = speed.factors.fp32;
  if (base === undefined) return null;
  let ms = prediction.callMs * base;
  for (const p of UNIT_PRECISIONS) {
    const t = prediction.byPrecision[p];
    if (t === undefined) continue;
    const f = speed.factors[p];
    if (f === undefined) return null;
    ms += t * f;
  }
  return ms * (speed.correction ?? 1);
}

/** Feature names of the fit: the call, then per kind and precision a unit count, MACs and elements. */
export function featureNames(): string[] {
  const names = ['call'];
  for (const op of UNIT_OPS)
    for (const p of UNIT_PRECISIONS) names.push(`${op}/${p}:unit`, `${op}/${p}:mmac`, `${op}/${p}:melem`);
  return names;
}

/** The feature row of one graph's units (same order as featureNames). */
export function featureRow(units: readonly CostUnit[]): number[] {
  const index = new Map(featureNames().map((n, i) => [n, i]));
  const row = new Array<number>(index.size).fill(0);
  row[0] = 1;
  const add = (name: string, v: number): void => {
    const i = index.get(name) as number;
    row[i] = (row[i] as number) + v;
  };
  for (const u of units) {
    const k = coefficientKey(u.op, u.precision);
    add(`${k}:unit`, 1);
    add(`${k}:mmac`, u.macs / 1e6);
    add(`${k}:melem`, u.elements / 1e6);
  }
  return row;
}

/** Coefficients from a solved feature vector; kinds no sample exercised are left out. */
export function coefficientsFromSolution(x: readonly number[], used: readonly boolean[]): LatencyTable['coefficients'] {
  const names = featureNames();
  const out: LatencyTable['coefficients'] = {};
  for (let i = 1; i < names.length; i += 3) {
    if (!used[i]) continue;
    const key = (names[i] as string).split(':')[0] as string;
    out[key] = { perUnitMs: x[i] ?? 0, perMMacMs: x[i + 1] ?? 0, perMElementMs: x[i + 2] ?? 0 };
  }
  return out;
}
