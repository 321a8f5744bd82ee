/**
 * The one agent module that imports onnxruntime-node [STYLE 2]: it describes the runtime
 * and creates sessions. Sessions are only ever created inside the inference worker thread
 * (inference-worker.ts), because `run()` blocks the event loop it runs on.
 */

/** What the installed onnxruntime can do. */
export interface OrtDescription {
  readonly version: string;
  /** Execution providers bundled with this build that the agent can use, e.g. `['cpu']`. */
  readonly executionProviders: readonly string[];
}

// WebGPU ships in the binary but needs a GPU adapter we do not probe at start-up (doing so
// would open a GPU context on every agent start), so it is not advertised.
const UNPROBED_PROVIDERS: ReadonlySet<string> = new Set(['webgpu']);

let cached: Promise<OrtDescription> | null = null;

/**
 * Loads onnxruntime-node lazily (its native binding costs tens of ms and some memory, which
 * `--help` and simulated devices need not pay) and describes it. Cached per process.
 */
export function describeOrt(): Promise<OrtDescription> {
  cached ??= (async () => {
    const ort = await import('onnxruntime-node');
    const version = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
    const providers = ort
      .listSupportedBackends()
      .filter((b) => b.bundled && !UNPROBED_PROVIDERS.has(b.name))
      .map((b) => b.name);
    return Object.freeze({ version, executionProviders: Object.freeze(providers.length > 0 ? providers : ['cpu']) });
  })();
  return cached;
}

/** A float32 tensor as plain data (what crosses the worker boundary). */
export interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Session options the agent sets; see mqtt-stack.md §7 for why threads are explicit. */
export interface OrtSessionOptions {
  /** Intra-op threads; 0 lets onnxruntime choose (all physical cores). */
  readonly intraOpNumThreads: number;
}

/** A loaded model: names of its inputs and outputs and a float32-in, float32-out run. */
export interface OrtModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs once; `latencyMs` is the time of onnxruntime's run alone. */
  run(
    feeds: Readonly<Record<string, FloatTensor>>,
  ): Promise<{ outputs: Record<string, FloatTensor>; latencyMs: number }>;
}

/**
 * Creates an onnxruntime session from model bytes. Sequential execution with one inter-op
 * thread emulates an edge device more faithfully than ORT's all-cores default. Called only
 * inside the inference worker thread.
 */
export async function createOrtSession(bytes: Uint8Array, options: OrtSessionOptions): Promise<OrtModelSession> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  async function run(
    feeds: Readonly<Record<string, FloatTensor>>,
  ): Promise<{ outputs: Record<string, FloatTensor>; latencyMs: number }> {
    const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const [name, tensor] of Object.entries(feeds))
      ortFeeds[name] = new ort.Tensor('float32', tensor.data, [...tensor.dims]);
    const started = performance.now();
    const results = await session.run(ortFeeds);
    const latencyMs = performance.now() - started;
    const outputs: Record<string, FloatTensor> = {};
    for (const [name, value] of Object.entries(results)) {
      // Non-float outputs (e.g. int64 class ids) are widened to float32 so one tensor type crosses the boundary.
      const data =
        value.data instanceof Float32Array
          ? value.data
          : Float32Array.from(value.data as ArrayLike<number | bigint>, Number);
      outputs[name] = { dims: value.dims.map(Number), data };
    }
    return { outputs, latencyMs };
  }
  return Object.freeze({ inputNames: [...session.inputNames], outputNames: [...session.outputNames], run });
}
