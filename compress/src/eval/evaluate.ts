import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { loadDataSource, type DataSourceOptions } from '../data/source.js';
import { formatDims, sliceDataset, type Dataset, type ModelInputSpec } from '../data/tensor.js';
import { readModelBytes, loadModel, sha256Hex, type Model } from '../ir/index.js';
import { createOrtSession, type OrtSession } from '../runtime/ort.js';
import { estimateGraphMemory } from './memory.js';
import { accuracyOf, fidelityOf } from './metrics.js';
import { batchFor, collectOutput, measureLatency } from './run.js';
import { evalResultSchema, type EvalResult } from './schema.js';
import { sizeOf } from './size.js';

/** Options of {@link evaluateModel}; every field has a default. */
export interface EvaluateOptions {
  /** Data spec (see data/source.ts) or `auto` (default): MNIST test split when the input fits, else `random:8`. */
  readonly data?: string;
  /** An already loaded dataset; overrides `data`. */
  readonly dataset?: Dataset;
  /** Path of a reference model for fidelity (top-1 agreement, cosine, max abs error). */
  readonly reference?: string;
  /** onnxruntime intra-op threads for every session; default 1. */
  readonly threads?: number;
  /** Latency warm-up runs; default 5. */
  readonly warmupRuns?: number;
  /** Latency timed runs; default 50. */
  readonly timedRuns?: number;
  /** Samples per inference batch for accuracy/fidelity; default 256 (a fixed model batch wins). */
  readonly batchSize?: number;
  /** Measure latency; default true. */
  readonly latency?: boolean;
  /** Options for data loading (seed, `--shape` overrides). */
  readonly dataOptions?: DataSourceOptions;
  /** Progress callback for long runs. */
  readonly onProgress?: (phase: 'load' | 'infer' | 'reference' | 'latency', done: number, total: number) => void;
  /** Clock in ms for latency; default `performance.now`. */
  readonly now?: () => number;
}

/** The model's real inputs (declared inputs that are not initializers) for data loading. */
export function modelInputsOf(model: Model): ModelInputSpec[] {
  return model.graph.inputs
    .filter((vi) => !model.graph.initializers.has(vi.name))
    .map((vi) => {
      const t = vi.type?.kind === 'tensor' ? vi.type : undefined;
      return { name: vi.name, dtype: t?.elemType ?? 'unknown', dims: t?.shape ?? [] };
    });
}

function fitsMnist(inputs: readonly ModelInputSpec[]): boolean {
  const only = inputs[0];
  if (inputs.length !== 1 || !only || only.dtype !== 'float32') return false;
  const tail = only.dims.slice(1).join(',');
  return tail === '784' || tail === '1,28,28';
}

/** Resolve `auto` and load the dataset for a model. */
export function datasetFor(model: Model, opts: EvaluateOptions): Dataset {
  const inputs = modelInputsOf(model);
  if (opts.dataset) return opts.dataset;
  const spec = opts.data === undefined || opts.data === 'auto' ? (fitsMnist(inputs) ? 'mnist' : 'random:8') : opts.data;
  return loadDataSource(spec, inputs, { defaultSplit: 'test', ...opts.dataOptions });
}

async function openSession(
  bytes: Uint8Array,
  threads: number,
): Promise<{ session: OrtSession; rssGrowthBytes: number }> {
  const before = process.memoryUsage.rss();
  const session = await createOrtSession(bytes, { intraOpNumThreads: threads });
  return { session, rssGrowthBytes: process.memoryUsage.rss() - before };
}

async function referenceFidelity(
  path: string,
  ds: Dataset,
  values: Float32Array,
  dims: readonly number[],
  threads: number,
  batch: number,
  opts: EvaluateOptions,
): Promise<EvalResult['fidelity']> {
  const bytes = await readModelBytes(path);
  const { session } = await openSession(bytes, threads);
  try {
    const ref = await collectOutput(session, ds, batchFor(session, batch, ds), (d, t) =>
      opts.onProgress?.('reference', d, t),
    );
    if (ref.values.length !== values.length) {
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `reference ${path} outputs ${formatDims(ref.dims)} but the model outputs ${formatDims(dims)}; fidelity needs ` +
          `outputs of the same shape`,
        { reference: path },
      );
    }
    return { reference: path, ...fidelityOf(values, ref.values, ds.count) };
  } finally {
    await session.release();
  }
}

/**
 * Evaluate one model: accuracy (when the data has labels), fidelity to a reference (when
 * given), size, latency at `threads` intra-op threads, and a memory estimate. Results are
 * validated against {@link evalResultSchema} before they are returned.
 */
export async function evaluateModel(modelPath: string, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const threads = opts.threads ?? 1;
  const bytes = await readModelBytes(modelPath);
  const model = loadModel(bytes);
  const ds = datasetFor(model, opts);
  opts.onProgress?.('load', ds.count, ds.count);
  const { session, rssGrowthBytes } = await openSession(bytes, threads);
  try {
    const batch = batchFor(session, opts.batchSize ?? 256, ds);
    const out = await collectOutput(session, ds, batch, (d, t) => opts.onProgress?.('infer', d, t));
    const accuracy = ds.labels ? accuracyOf(out.values, ds.labels) : null;
    const first = sliceDataset(ds, 0, Math.min(ds.count, batchFor(session, 1, ds)));
    const latency =
      opts.latency === false || ds.count === 0
        ? null
        : await measureLatency(session, first, { threads, ...pick(opts) });
    opts.onProgress?.('latency', 1, 1);
    const fidelity = opts.reference
      ? await referenceFidelity(opts.reference, ds, out.values, out.dims, threads, batch, opts)
      : null;
    const inputDims = Object.fromEntries(Object.entries(first.inputs).map(([k, t]) => [k, [...t.dims]]));
    const memory = { ...estimateGraphMemory(model, inputDims, first.count), rssGrowthBytes };
    return evalResultSchema.parse({
      type: 'eval-result',
      v: 1,
      model: { path: modelPath, sha256: sha256Hex(bytes) },
      data: { source: ds.source, count: ds.count, labelled: ds.labels !== undefined },
      accuracy,
      fidelity,
      size: sizeOf(bytes),
      latency,
      memory,
    });
  } finally {
    await session.release();
  }
}

function pick(opts: EvaluateOptions): { warmupRuns?: number; timedRuns?: number; now?: () => number } {
  return {
    ...stripUndefined({ warmupRuns: opts.warmupRuns }),
    ...stripUndefined({ timedRuns: opts.timedRuns }),
    ...stripUndefined({ now: opts.now }),
  };
}
