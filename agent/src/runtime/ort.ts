/**
 * The one agent module that imports onnxruntime-node [STYLE 2]: it describes the runtime
 * and creates sessions. Sessions are only ever created inside the inference worker thread
 * (inference-worker.ts), because `run()` blocks the event loop it runs on.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** What the installed onnxruntime can do. */
export interface OrtDescription {
  readonly version: string;
  /** Execution providers the agent uses: `['cpu']` (sessions are created with the CPU provider only). */
  readonly executionProviders: readonly string[];
}

let cached: Promise<OrtDescription> | null = null;

/**
 * Describes onnxruntime without loading it: the version from the installed package's
 * manifest. Loading the native binding in the main thread costs ~20 MB of resident memory
 * that an agent without a model (or a farm of simulated devices) would pay for nothing;
 * sessions live in the inference worker, which loads it. The providers are what the agent
 * creates sessions with (CPU), not everything the binary bundles. Cached per process.
 */
export function describeOrt(): Promise<OrtDescription> {
  cached ??= (async () => {
    let version = 'unknown';
    try {
      // The package's entry is <package>/dist/index.js; its manifest sits two levels up.
      const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
      const manifest = JSON.parse(await readFile(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
        version?: unknown;
      };
      if (typeof manifest.version === 'string') version = manifest.version;
    } catch {
      // An agent without onnxruntime installed still connects; its deployments fail at load.
    }
    return Object.freeze({ version, executionProviders: Object.freeze(['cpu']) });
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
