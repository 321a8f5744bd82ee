/**
 * Plain sample tensors: what every data source produces and what the evaluator and the
 * calibrators consume. Kept independent of onnxruntime and of the IR so either can use it.
 */

/** Element types a sample tensor may hold (ONNX names). */
export type SampleDtype = 'float32' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool';

/** Typed array backing each dtype. */
export type SampleData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** A dense tensor; `dims[0]` is the sample count N for dataset tensors. */
export interface SampleTensor {
  readonly dtype: SampleDtype;
  readonly dims: readonly number[];
  readonly data: SampleData;
}

/** The model input a data source must fit: `dims` entries that are not numbers are symbolic. */
export interface ModelInputSpec {
  readonly name: string;
  /** ONNX element type name (`float32`, `int64`, …). */
  readonly dtype: string;
  /** Declared dims; a string or null is a symbolic/unknown dimension. */
  readonly dims: ReadonlyArray<number | string | null>;
}

/**
 * A set of N samples: one tensor per model input whose leading dim is the sample axis (N), fed
 * to the model in slices along that axis (one sample at a time, or as many as the model's batch
 * dimension takes); optional integer labels (top-1 class per sample), and a description of where
 * it came from. `fixed` inputs are not sampled: the same tensor goes with every slice (a sample
 * rate, an initial recurrent state, a scalar), dims exactly as the model declares them.
 */
export interface Dataset {
  /** The spec it was loaded from, e.g. `mnist:test`, `random:8x784`, a directory. */
  readonly source: string;
  readonly count: number;
  readonly inputs: Readonly<Record<string, SampleTensor>>;
  readonly fixed?: Readonly<Record<string, SampleTensor>>;
  /**
   * Samples per run when the data, not the model, decides it: a stateful model whose fixed state
   * input has a batch of 1 must see its samples one at a time though its batch dim is symbolic.
   */
  readonly runBatch?: number;
  readonly labels?: Int32Array;
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SampleDtype, number>> = Object.freeze({
  float32: 4,
  int32: 4,
  int64: 8,
  uint8: 1,
  int8: 1,
  bool: 1,
});

/** Number of elements of `dims` (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Allocate a zeroed typed array for `dtype`. */
export function allocData(dtype: SampleDtype, length: number): SampleData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'uint8':
    case 'bool':
      return new Uint8Array(length);
    case 'int8':
      return new Int8Array(length);
  }
}

/** Samples [start, end) of a dataset tensor (copy-free view of the leading dimension). */
export function sliceSamples(t: SampleTensor, start: number, end: number): SampleTensor {
  const per = elementCount(t.dims.slice(1));
  const data = t.data.subarray(start * per, end * per) as SampleData;
  return { dtype: t.dtype, dims: [end - start, ...t.dims.slice(1)], data };
}

/** Samples [start, end) of every input and label of a dataset (fixed inputs go along unchanged). */
export function sliceDataset(ds: Dataset, start: number, end: number): Dataset {
  const inputs: Record<string, SampleTensor> = {};
  for (const [name, t] of Object.entries(ds.inputs)) inputs[name] = sliceSamples(t, start, end);
  const base = {
    source: ds.source,
    count: end - start,
    inputs,
    ...(ds.fixed ? { fixed: ds.fixed } : {}),
    ...(ds.runBatch ? { runBatch: ds.runBatch } : {}),
  };
  return ds.labels ? { ...base, labels: ds.labels.subarray(start, end) } : base;
}

/** The feed for samples [start, end): every sampled input sliced, every fixed input whole. */
export function batchFeeds(ds: Dataset, start: number, end: number): Record<string, SampleTensor> {
  const feeds: Record<string, SampleTensor> = { ...(ds.fixed ?? {}) };
  for (const [name, t] of Object.entries(ds.inputs)) feeds[name] = sliceSamples(t, start, end);
  return feeds;
}

/** A declared input as a runtime reports it: name and dims (numbers fixed, strings/null symbolic). */
export interface DeclaredInput {
  readonly name: string;
  readonly shape: ReadonlyArray<number | string | null>;
}

/**
 * Samples per run for `ds` on a model: the fixed batch dimension of its sampled inputs when the
 * model declares one (a `[1,25,96]` model takes one sample per run), else `preferred`.
 */
export function runBatchSize(ds: Dataset, declared: readonly DeclaredInput[], preferred: number): number {
  if (ds.runBatch !== undefined) return ds.runBatch;
  for (const d of declared) {
    if (!(d.name in ds.inputs)) continue;
    const b = d.shape[0];
    if (typeof b === 'number' && b > 0) return b;
  }
  return Math.max(1, preferred);
}

/** Format dims for messages: `[N,1,28,28]`. */
export function formatDims(dims: ReadonlyArray<number | string | null>): string {
  return `[${dims.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}
