import { attr, createModel, tensorValueInfo, writeModel } from '../ir/index.js';
import { createOrtSession, type OrtSession } from '../runtime/ort.js';

/**
 * What a model costs per batch-1 call compared with the fixed cost of any call: a one-node
 * graph (Flatten of the same input) measured in the same process, interleaved with the model
 * (rounds of runs, alternating), medians of the rounds. A model whose latency is near the
 * empty call's cannot get much faster by compression, whatever is removed from it.
 */

/** Median batch-1 latency of a model and of the empty call, in microseconds. */
export interface CallCost {
  readonly modelUs: number;
  readonly emptyCallUs: number;
  /** modelUs / emptyCallUs. */
  readonly ratio: number;
}

/** A graph that only flattens an input of `dims` (batch first): the cheapest possible call. */
export function emptyCallModel(inputName: string, dims: readonly number[]): Uint8Array {
  const features = dims.slice(1).reduce((a, b) => a * b, 1);
  return writeModel(
    createModel({
      opsets: { '': 13 },
      graph: {
        name: 'empty-call',
        inputs: [tensorValueInfo(inputName, 'float32', ['N', ...dims.slice(1)])],
        outputs: [tensorValueInfo('out', 'float32', ['N', features])],
        nodes: [{ opType: 'Flatten', inputs: [inputName], outputs: ['out'], attributes: [attr.int('axis', 1)] }],
      },
    }),
  );
}

async function timeRuns(session: OrtSession, feeds: Parameters<OrtSession['run']>[0], runs: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds);
  return ((performance.now() - t0) * 1000) / runs;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Measure `model` (one float input of `dims`, batch 1) against the empty call, 1 thread. */
export async function measureCallCost(
  model: Uint8Array,
  inputName: string,
  sampleDims: readonly number[],
  opts: { rounds?: number; runsPerRound?: number } = {},
): Promise<CallCost> {
  const dims = [1, ...sampleDims];
  const data = new Float32Array(sampleDims.reduce((a, b) => a * b, 1)).fill(0.5);
  const feeds = { [inputName]: { dtype: 'float32' as const, dims, data } };
  const sessions = [await createOrtSession(model), await createOrtSession(emptyCallModel(inputName, dims))];
  try {
    const times: [number[], number[]] = [[], []];
    for (const s of sessions) await timeRuns(s, feeds, 20);
    for (let r = 0; r < (opts.rounds ?? 15); r++)
      for (const [i, s] of sessions.entries())
        times[i as 0 | 1].push(await timeRuns(s, feeds, opts.runsPerRound ?? 100));
    const modelUs = median(times[0]);
    const emptyCallUs = median(times[1]);
    return { modelUs, emptyCallUs, ratio: modelUs / emptyCallUs };
  } finally {
    for (const s of sessions) await s.release();
  }
}
