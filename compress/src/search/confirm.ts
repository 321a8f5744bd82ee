import type { Dataset } from '../data/tensor.js';
import { measureLatency } from '../eval/run.js';
import { writeModel, type Model } from '../ir/index.js';
import { createOrtSession } from '../runtime/ort.js';
import { quantizeAs } from './builder.js';
import { randomBatch } from './latency/microbench.js';
import { buildNet } from './latency/net.js';
import type { UnitPrecision } from './latency/units.js';
import type { Candidate } from './space.js';

/**
 * Measurement confirms the finalists (the predictor only ranks them): the candidate and the teacher
 * are timed side by side on this host, in alternating rounds, each with the evaluator's own
 * latency measurement (the planner's), and the candidate's device latency is the teacher's (as the
 * search is anchored on it) × the measured ratio. Timing both in one stretch keeps the ratio when
 * the machine's load moves. The ratio is of medians, not of p95s: at load 7 on two cores a 0.35 ms
 * run is preempted often enough that its p95 read 5–10 ms in one round and 0.35 ms in the next
 * (its median 0.31–0.6 ms), which made mnist-cnn's teacher look 15–40× slower than a candidate.
 */
export interface MeasuredRatio {
  readonly teacherP95Ms: number;
  readonly candidateP95Ms: number;
  readonly teacherP50Ms: number;
  readonly candidateP50Ms: number;
  /** candidate / teacher, of the medians (each the quietest round's). */
  readonly ratio: number;
}

export async function measureAgainstTeacher(
  teacher: Model,
  candidate: Model,
  sample: Dataset,
  rounds = 3,
): Promise<MeasuredRatio> {
  const sessions = [await createOrtSession(writeModel(teacher)), await createOrtSession(writeModel(candidate))];
  try {
    const p95 = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    const p50 = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    for (let r = 0; r < rounds; r++)
      for (const [i, s] of sessions.entries()) {
        const l = await measureLatency(s, sample, { threads: 1 });
        p95[i] = Math.min(p95[i] as number, l.p95Ms);
        p50[i] = Math.min(p50[i] as number, l.p50Ms);
      }
    const [teacherP95Ms, candidateP95Ms] = p95 as [number, number];
    const [teacherP50Ms, candidateP50Ms] = p50 as [number, number];
    return { teacherP95Ms, candidateP95Ms, teacherP50Ms, candidateP50Ms, ratio: candidateP50Ms / teacherP50Ms };
  } finally {
    for (const s of sessions) await s.release();
  }
}

/**
 * A graph of the candidate's shape in its layer precisions, with seeded random weights, fed like the
 * teacher (its input renamed to `inputName`): what onnxruntime runs for the candidate, timed before
 * anything is trained (weights do not change the time). Int8 ranges come from 16 random inputs, as
 * the microbenchmarks' (a batch-1 confirm sample is too few for int8-static's calibration).
 */
export async function timingModelOf(c: Candidate, inputName: string): Promise<Model> {
  const model = buildNet(c.net);
  const input = model.graph.inputs[0]?.name;
  if (input !== undefined && inputName !== input) model.graph.renameValue(input, inputName);
  const precisions: UnitPrecision[] = [];
  c.net.layers.forEach((l, i) => {
    if (l.kind === 'conv' || l.kind === 'dense')
      precisions.push(c.precisionByNode.get(`l${i}.${l.kind === 'conv' ? 'conv' : 'gemm'}`) ?? 'fp32');
  });
  const n = 16;
  const calib: Dataset = {
    source: 'random:timing',
    count: n,
    inputs: { [inputName]: { dtype: 'float32', dims: [n, ...c.net.input], data: randomBatch(c.net.input, n) } },
  };
  return quantizeAs(model, precisions, calib);
}
