/**
 * The one module of the toolkit that imports onnxruntime-node. Sessions are created from model bytes
 * with edge-like defaults (one intra-op thread, one inter-op thread, sequential execution),
 * fed and read as plain typed tensors, and always released by the caller.
 *
 * Note: `run()` blocks the event loop for the duration of inference, and re-creating many
 * sessions in one process grows memory; long-lived services should run sessions in a worker.
 */
import ort from 'onnxruntime-node';
import { EdgefleetError, stripUndefined } from '@edgefleet/shared';

/** Element types a runtime tensor can have, with their data arrays (onnxruntime's names). */
export interface RuntimeDataMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
}

export type RuntimeDType = keyof RuntimeDataMap;

/** A tensor going into or out of a session. */
export type RuntimeTensor = {
  [D in RuntimeDType]: { dtype: D; dims: readonly number[]; data: RuntimeDataMap[D] };
}[RuntimeDType];

/** A declared input or output of a loaded session. */
export interface RuntimeValueMeta {
  name: string;
  /** False for sequences/maps; then `dtype` is undefined and `shape` empty. */
  isTensor: boolean;
  dtype: string | undefined;
  /** Sizes, symbolic names, or [] when the rank is unknown. */
  shape: ReadonlyArray<number | string>;
}

/** Session settings. */
export interface OrtSessionOptions {
  /** Threads inside one operator. Default 1 (an edge-like setting, and reproducible timings). */
  intraOpNumThreads?: number;
  /** Graph optimizations onnxruntime applies at load. Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** onnxruntime's own log level (0 verbose … 4 fatal). Default 4: failures already come back as ' +
    'EdgefleetErrors, so ORT's own error lines would only duplicate them on stderr. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /**
   * Write the graph onnxruntime actually runs (after its
   * optimizations, e.g. QDQ fusion) to this path; unset by default.
   */
  optimizedModelFilePath?: string;
}

/** A loaded model. Call `release()` when done; a released session cannot run. */
export interface OrtSession {
  readonly inputs: readonly RuntimeValueMeta[];
  readonly outputs: readonly RuntimeValueMeta[];
  /** Run with one tensor per model input; returns the requested outputs (default: all). */
  run(
    feeds: Readonly<Record<string, RuntimeTensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, RuntimeTensor>>;
  release(): Promise<void>;
}

const DTYPE_NAMES: ReadonlySet<string> = new Set<RuntimeDType>([
  'float32',
  'float64',
  'float16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
  'string',
]);

/** The onnxruntime-node version sessions run on (latency tables are valid for one version only). */
export function runtimeVersion(): string {
  return `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`;
}

/** Create a session from ONNX model bytes. Failures are EF_ERR_RUNTIME_LOAD with onnxruntime's reason. */
export async function createOrtSession(model: Uint8Array, options: OrtSessionOptions = {}): Promise<OrtSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 4,
    ...stripUndefined({ optimizedModelFilePath: options.optimizedModelFilePath }),
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, sessionOptions);
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    throw new EdgefleetError(
      'EF_ERR_RUNTIME_LOAD',
      `onnxruntime could not load the model: ${why}`,
      { reason: why },
      { cause: err },
    );
  }
  const inputs = session.inputMetadata.map(metaOf);
  const outputs = session.outputMetadata.map(metaOf);
  let released = false;
  return {
    inputs,
    outputs,
    async run(feeds, outputNames) {
      if (released) throw new Error('this onnxruntime session was released');
      const ortFeeds = toOrtFeeds(feeds, inputs);
      let result: ort.InferenceSession.ReturnType;
      try {
        const runOptions = { logSeverityLevel: sessionOptions.logSeverityLevel ?? 4 };
        result = outputNames
          ? await session.run(ortFeeds, [...outputNames], runOptions)
          : await session.run(ortFeeds, runOptions);
      } catch (err: unknown) {
        const why = err instanceof Error ? err.message : String(err);
        throw new EdgefleetError(
          'EF_ERR_RUNTIME_RUN',
          `onnxruntime failed to run the model: ${why}`,
          { reason: why },
          { cause: err },
        );
      }
      return fromOrtResult(result);
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}

function metaOf(m: ort.InferenceSession.ValueMetadata): RuntimeValueMeta {
  return m.isTensor
    ? { name: m.name, isTensor: true, dtype: m.type, shape: [...m.shape] }
    : { name: m.name, isTensor: false, dtype: undefined, shape: [] };
}

function toOrtFeeds(
  feeds: Readonly<Record<string, RuntimeTensor>>,
  inputs: readonly RuntimeValueMeta[],
): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const meta of inputs) {
    const t = feeds[meta.name];
    if (!t)
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `no data for model input '${meta.name}' (expects ${describe(meta)}); inputs given: ` +
          `${Object.keys(feeds).join(', ') || 'none'}`,
        { input: meta.name },
      );
    checkFeed(meta, t);
    out[meta.name] = new ort.Tensor(t.dtype, t.data, [...t.dims]);
  }
  for (const name of Object.keys(feeds)) {
    if (!inputs.some((m) => m.name === name)) {
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `the model has no input '${name}'; its inputs are ${inputs.map(describe).join(', ')}`,
        { input: name },
      );
    }
  }
  return out;
}

function checkFeed(meta: RuntimeValueMeta, t: RuntimeTensor): void {
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0) || t.data.length !== elements) {
    throw new EdgefleetError(
      'EF_ERR_DATA_SHAPE',
      `input '${meta.name}' has dims [${t.dims.join(', ')}] (${elements} elements) but ${t.data.length} values`,
      { input: meta.name },
    );
  }
  if (meta.dtype !== undefined && meta.dtype !== t.dtype) {
    throw new EdgefleetError('EF_ERR_DATA_SHAPE', `input '${meta.name}' expects ${meta.dtype} data, got ${t.dtype}`, {
      input: meta.name,
    });
  }
  const fixedMismatch =
    meta.shape.length > 0 &&
    (meta.shape.length !== t.dims.length ||
      meta.shape.some((d, i) => typeof d === 'number' && d >= 0 && d !== t.dims[i]));
  if (fixedMismatch) {
    throw new EdgefleetError(
      'EF_ERR_DATA_SHAPE',
      `input '${meta.name}' expects shape [${meta.shape.join(', ')}], got [${t.dims.join(', ')}]`,
      { input: meta.name, expected: meta.shape, actual: t.dims },
    );
  }
}

function describe(m: RuntimeValueMeta): string {
  return `'${m.name}' ${m.dtype ?? 'non-tensor'}[${m.shape.join(', ')}]`;
}

function fromOrtResult(result: ort.InferenceSession.ReturnType): Record<string, RuntimeTensor> {
  const out: Record<string, RuntimeTensor> = {};
  for (const [name, value] of Object.entries(result)) {
    if (!DTYPE_NAMES.has(value.type)) {
      throw new EdgefleetError(
        'EF_ERR_RUNTIME_RUN',
        `output '${name}' has type ${value.type}, which edgefleet cannot read`,
        { output: name },
      );
    }
    out[name] = { dtype: value.type, dims: [...value.dims], data: value.data } as RuntimeTensor;
  }
  return out;
}
