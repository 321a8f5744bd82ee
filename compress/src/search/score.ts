import type { LatencyPredictor } from './latency/index.js';
import type { LatencyPrediction } from './latency/cost-model.js';
import { buildNet, netShapes } from './latency/net.js';
import { UNIT_PRECISIONS, type DeviceSpeed } from './latency/cost-model.js';
import type { UnitPrecision } from './latency/units.js';
import type { Candidate } from './space.js';

/**
 * Scoring a candidate for a class before anything is trained: predicted device latency (the
 * latency predictor, scaled by the class's speed model and telemetry correction), predicted
 * file size (parameters × bytes of their precision, plus quantization parameters), modelled
 * energy per inference (active watts per precision × the time spent in it), and how far each
 * exceeds the class's budgets (the search's hard constraints). Pure.
 */
export interface ClassTarget {
  readonly name: string;
  /** Precisions the class executes. */
  readonly precisions: readonly string[];
  readonly speed: DeviceSpeed;
  /** Modelled power: idle and active watts per precision, the assumed inference rate. */
  readonly power: {
    readonly idleW: number;
    readonly activeW: Readonly<Partial<Record<string, number>>>;
    readonly workloadHz: number;
  };
  readonly budgets: {
    readonly maxModelBytes?: number | undefined;
    readonly maxP95LatencyMs?: number | undefined;
    readonly maxEnergyPerInferenceMj?: number | undefined;
    readonly maxAvgPowerW?: number | undefined;
    readonly minAccuracyPct?: number | undefined;
    readonly maxAccuracyDropPts?: number | undefined;
  };
}

/** What the predictor says of a candidate on a class. */
export interface CandidatePrediction {
  readonly hostMs: number;
  /** Null when the class cannot execute a precision the candidate uses. */
  readonly deviceP95Ms: number | null;
  readonly sizeBytes: number;
  readonly energyMj: number | null;
  readonly avgPowerW: number | null;
  readonly params: number;
}

const BYTES: Readonly<Record<UnitPrecision, number>> = { fp32: 4, fp16: 2, int8: 1 };
/** Protobuf framing, names and the graph's own records, measured on small exported models (order of magnitude). */
const FILE_OVERHEAD_BYTES = 600;
const NODE_OVERHEAD_BYTES = 120;

/** Predicted file size: weights in their precision, biases (int32 when quantized), per-channel scales. */
export function predictSizeBytes(c: Candidate): { bytes: number; params: number } {
  const shapes = netShapes(c.net);
  let prev = [...c.net.input];
  let bytes = FILE_OVERHEAD_BYTES;
  let params = 0;
  c.net.layers.forEach((l, i) => {
    bytes += NODE_OVERHEAD_BYTES;
    if (l.kind === 'conv' || l.kind === 'dense') {
      const fanIn = l.kind === 'conv' ? (prev[0] as number) * l.kernel * l.kernel : (prev[0] as number);
      const out = l.kind === 'conv' ? l.filters : l.units;
      const p = c.precisionByNode.get(`l${i}.${l.kind === 'conv' ? 'conv' : 'gemm'}`) ?? 'fp32';
      params += fanIn * out + out;
      bytes += fanIn * out * BYTES[p];
      // int8: int32 bias, a float scale and an int8 zero point per channel, plus the activation's Q/DQ pair.
      bytes += p === 'int8' ? out * (4 + 4 + 1) + 2 * NODE_OVERHEAD_BYTES : out * BYTES[p];
    }
    prev = shapes[i] as number[];
  });
  return { bytes, params };
}

/**
 * Device latency, energy and average power on a class from a host prediction (each precision at its factor and watts).
 */
export function deviceFigures(
  host: LatencyPrediction,
  cls: ClassTarget,
): { deviceP95Ms: number | null; energyMj: number | null; avgPowerW: number | null } {
  const none = { deviceP95Ms: null, energyMj: null, avgPowerW: null };
  const correction = cls.speed.correction ?? 1;
  const fp32 = cls.speed.factors.fp32;
  // The per-call bookkeeping runs on the CPU in fp32 whatever the layers compute in.
  if (fp32 === undefined) return none;
  let deviceMs = host.callMs * fp32 * correction;
  let energy = deviceMs * (cls.power.activeW.fp32 ?? Math.min(...Object.values(cls.power.activeW).map(Number)));
  for (const p of UNIT_PRECISIONS) {
    const t = host.byPrecision[p];
    if (t === undefined) continue;
    const f = cls.speed.factors[p];
    const w = cls.power.activeW[p];
    if (f === undefined || w === undefined || !cls.precisions.includes(p)) return none;
    deviceMs += t * f * correction;
    energy += t * f * correction * w;
  }
  const duty = Math.min(1, (cls.power.workloadHz * deviceMs) / 1000);
  return {
    deviceP95Ms: deviceMs,
    energyMj: energy,
    avgPowerW: cls.power.idleW + (energy / deviceMs - cls.power.idleW) * duty,
  };
}

/**
 * Predicted latency, size and energy of a candidate on a class, for one run at `batch` (default 1,
 * how devices infer; a batch-32 search judges throughput where the per-call cost does not cap it).
 */
export function predictCandidate(
  c: Candidate,
  predictor: LatencyPredictor,
  cls: ClassTarget,
  batch = 1,
): CandidatePrediction {
  const host = predictor.host(buildNet(c.net), batch, (n) => c.precisionByNode.get(n.name));
  const { bytes, params } = predictSizeBytes(c);
  return { hostMs: host.ms, ...deviceFigures(host, cls), sizeBytes: bytes, params };
}

/** Relative excess over each budget, summed (0 when all hold); a figure that cannot be predicted violates by 1. */
export function budgetViolation(
  figures: {
    sizeBytes: number;
    deviceP95Ms: number | null;
    energyMj: number | null;
    avgPowerW: number | null;
    accuracyPct?: number;
  },
  budgets: ClassTarget['budgets'],
  teacherAccuracyPct?: number,
  /**
   * Relative slack on the limits of predicted timing figures (latency, energy, power): a prediction
   * within it is not yet a breach, for when measurement will decide. Default 0.
   */
  timingTolerance = 0,
): { violation: number; broken: string[] } {
  const broken: string[] = [];
  let violation = 0;
  const timed = new Set(['maxP95LatencyMs', 'maxEnergyPerInferenceMj', 'maxAvgPowerW']);
  const over = (name: string, value: number | null | undefined, given: number | undefined): void => {
    if (given === undefined) return;
    const limit = timed.has(name) ? given * (1 + timingTolerance) : given;
    if (value === null || value === undefined || !Number.isFinite(value)) {
      violation += 1;
      broken.push(name);
    } else if (value > limit) {
      violation += value / limit - 1;
      broken.push(name);
    }
  };
  over('maxModelBytes', figures.sizeBytes, budgets.maxModelBytes);
  over('maxP95LatencyMs', figures.deviceP95Ms, budgets.maxP95LatencyMs);
  over('maxEnergyPerInferenceMj', figures.energyMj, budgets.maxEnergyPerInferenceMj);
  over('maxAvgPowerW', figures.avgPowerW, budgets.maxAvgPowerW);
  const acc = figures.accuracyPct;
  if (acc !== undefined) {
    // Accuracy limits become "error ≤ allowed error" so the excess is relative like the others.
    const floor =
      budgets.minAccuracyPct ??
      (budgets.maxAccuracyDropPts !== undefined && teacherAccuracyPct !== undefined
        ? teacherAccuracyPct - budgets.maxAccuracyDropPts
        : undefined);
    if (floor !== undefined) over('accuracy', 100 - acc, Math.max(1e-6, 100 - floor));
  }
  return { violation, broken };
}
