import { EdgefleetError } from '@edgefleet/shared';
import { sliceDataset, type Dataset, type SampleTensor } from '../data/tensor.js';
import type { OrtSession, RuntimeTensor } from '../runtime/ort.js';
import { percentile } from './metrics.js';
import type { LatencyResult } from './schema.js';

/** The first output of a model over a whole dataset, as float64-free float32 rows. */
export interface CollectedOutput {
  name: string;
  /** Dims of one batch's output with the batch dim replaced by N. */
  dims: number[];
  values: Float32Array;
}

/** Feeds for one batch: the dataset tensors renamed to the session's input names. */
export function feedsFor(session: OrtSession, ds: Dataset): Record<string, RuntimeTensor> {
  const feeds: Record<string, RuntimeTensor> = {};
  const tensors = Object.entries(ds.inputs);
  session.inputs.forEach((meta, i) => {
    // By name first; a one-input model takes the only tensor whatever its name.
    const t: SampleTensor | undefined =
      ds.inputs[meta.name] ??
      ds.fixed?.[meta.name] ??
      (session.inputs.length === 1 ? tensors[0]?.[1] : tensors[i]?.[1]);
    if (!t)
      throw new EdgefleetError('EF_ERR_DATA_SHAPE', `data ${ds.source} has no tensor for model input "${meta.name}"`, {
        input: meta.name,
      });
    feeds[meta.name] = { dtype: t.dtype, dims: t.dims, data: t.data } as RuntimeTensor;
  });
  return feeds;
}

function toFloat32(t: RuntimeTensor): Float32Array {
  if (t.dtype === 'float32') return t.data;
  if (t.dtype === 'string')
    throw new EdgefleetError(
      'EF_ERR_EVAL_RUNTIME',
      'the model output is a string tensor; the evaluator compares numeric outputs',
      {},
    );
  return Float32Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Batch size for a model: its fixed batch dim (of the first input fed by samples), else `preferred`. */
export function batchFor(session: OrtSession, preferred: number, ds?: Dataset): number {
  if (ds?.runBatch !== undefined) return ds.runBatch;
  const sampled = session.inputs.find((i) => !ds?.fixed?.[i.name]);
  const d = sampled?.shape[0];
  return typeof d === 'number' && d > 0 ? d : preferred;
}

/** Run the dataset through the session in batches and collect its first output. */
export async function collectOutput(
  session: OrtSession,
  ds: Dataset,
  batchSize: number,
  onBatch?: (done: number, total: number) => void,
): Promise<CollectedOutput> {
  const name = session.outputs[0]?.name;
  if (!name) throw new EdgefleetError('EF_ERR_EVAL_RUNTIME', 'the model declares no outputs', {});
  const chunks: Float32Array[] = [];
  let rowDims: number[] = [];
  for (let start = 0; start < ds.count; start += batchSize) {
    const end = Math.min(ds.count, start + batchSize);
    const out = (await session.run(feedsFor(session, sliceDataset(ds, start, end)), [name]))[name];
    if (!out) throw new EdgefleetError('EF_ERR_EVAL_RUNTIME', `onnxruntime returned no output ${name}`, {});
    rowDims = [...out.dims.slice(1)];
    chunks.push(toFloat32(out).slice());
    onBatch?.(end, ds.count);
  }
  const values = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    values.set(c, at);
    at += c.length;
  }
  return { name, dims: [ds.count, ...rowDims], values };
}

/**
 * Latency settings: warm-up runs are discarded, then rounds of `timedRuns` sequential runs are
 * timed. Small models get several rounds (until `minTimedMs` of timed runs or `maxRounds`), and
 * p50 and p95 are those of the least disturbed round: on a shared machine a round's tail is mostly
 * other processes' time slices (50 runs of a 30 µs model take 1.5 ms, one preemption is 4 ms), so
 * one round's p95 measured the box's load at that moment, and two variants timed minutes apart
 * could differ 5× for the same model. The quietest round is the model's own latency, as `timeit`
 * reports the minimum of its repeats; large models, whose runs outlast a time slice, keep one round.
 */
export interface LatencyOptions {
  readonly threads: number;
  /** Default 5. */
  readonly warmupRuns?: number;
  /** Runs per round; default 50. */
  readonly timedRuns?: number;
  /** More rounds while the timed runs so far took less than this; default 250 ms. */
  readonly minTimedMs?: number;
  /** Default 8. */
  readonly maxRounds?: number;
  /** Clock in milliseconds; default `performance.now`. */
  readonly now?: () => number;
}

/** Time single-batch inference on `sample` (one batch of the dataset). */
export async function measureLatency(
  session: OrtSession,
  sample: Dataset,
  opts: LatencyOptions,
): Promise<LatencyResult> {
  const now = opts.now ?? (() => performance.now());
  const warmupRuns = opts.warmupRuns ?? 5;
  const timedRuns = opts.timedRuns ?? 50;
  const feeds = feedsFor(session, sample);
  for (let i = 0; i < warmupRuns; i++) await session.run(feeds);
  const all: number[] = [];
  let p50Ms = Number.POSITIVE_INFINITY;
  let p95Ms = Number.POSITIVE_INFINITY;
  let rounds = 0;
  let timedMs = 0;
  while (rounds === 0 || (rounds < (opts.maxRounds ?? 8) && timedMs < (opts.minTimedMs ?? 250))) {
    const times: number[] = [];
    for (let i = 0; i < timedRuns; i++) {
      const t0 = now();
      await session.run(feeds);
      times.push(now() - t0);
    }
    rounds++;
    timedMs += times.reduce((a, b) => a + b, 0);
    all.push(...times);
    p50Ms = Math.min(p50Ms, percentile(times, 50));
    p95Ms = Math.min(p95Ms, percentile(times, 95));
  }
  return {
    threads: opts.threads,
    batch: sample.count,
    warmupRuns,
    timedRuns,
    rounds,
    p50Ms,
    p95Ms,
    meanMs: all.reduce((a, b) => a + b, 0) / all.length,
    minMs: Math.min(...all),
    source: 'measured',
  };
}
