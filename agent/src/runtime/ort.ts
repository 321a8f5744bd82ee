/**
 * The one agent module that imports onnxruntime-node [STYLE 2]: it describes the runtime
 * and creates sessions. `run()` blocks the thread it runs on (here it is synchronous, see
 * createOrtSession), so sessions live in the inference worker (inference-worker.ts), or on
 * the agent's thread only for small models that proved themselves (inline-model.ts).
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
  /**
   * How runs reach onnxruntime: `direct` calls the native session synchronously, `public`
   * goes through `InferenceSession.run` (see createOrtSession).
   */
  readonly path: 'direct' | 'public';
  /** Runs once; `latencyMs` is the time of onnxruntime's run alone. */
  run(
    feeds: Readonly<Record<string, FloatTensor>>,
  ): Promise<{ outputs: Record<string, FloatTensor>; latencyMs: number }>;
}

type OrtModule = typeof import('onnxruntime-node');
type OrtValueLike = { readonly dims: readonly (number | bigint)[]; readonly data: unknown };
type RawSession = {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, OrtValueLike>;
  readonly inputMetadata: ReadonlyArray<{ readonly name: string }>;
  readonly outputMetadata: ReadonlyArray<{ readonly name: string }>;
};
type NativeBinding = { readonly binding: { InferenceSession: new () => RawSession }; readonly initOrt: () => void };

/**
 * onnxruntime-node's native session, as its own backend creates it (dist/binding.js of the
 * exact version the agent depends on). Its `run` is synchronous: the package's public `run`
 * wraps the same call in a setImmediate and two promise layers, and re-checks its arguments,
 * which for mnist-cnn is ~8–18 µs of a ~20 µs run (`bench:agent`, row `ort-direct`). Null
 * when that file is not there or not of that shape (another onnxruntime-node version): the
 * public API is used then.
 */
function nativeBinding(): NativeBinding | null {
  try {
    const loaded = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Partial<NativeBinding>;
    const proto = (loaded.binding?.InferenceSession as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    if (
      typeof loaded.initOrt !== 'function' ||
      typeof proto?.run !== 'function' ||
      typeof proto.loadModel !== 'function'
    )
      return null;
    return loaded as NativeBinding;
  } catch {
    return null;
  }
}

function toFloatOutputs(results: Readonly<Record<string, OrtValueLike>>): Record<string, FloatTensor> {
  const outputs: Record<string, FloatTensor> = {};
  for (const name in results) {
    const value = results[name] as OrtValueLike;
    // Non-float outputs (e.g. int64 class ids) are widened to float32 so one tensor type crosses the boundary.
    const data =
      value.data instanceof Float32Array ? value.data : Float32Array.from(value.data as ArrayLike<number>, Number);
    outputs[name] = { dims: value.dims.map(Number), data };
  }
  return outputs;
}

const SESSION_OPTIONS = {
  executionProviders: ['cpu'],
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
} as const;

function createDirectSession(ort: OrtModule, native: NativeBinding, bytes: Uint8Array, threads: number) {
  native.initOrt();
  const session = new native.binding.InferenceSession();
  session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
    ...SESSION_OPTIONS,
    intraOpNumThreads: threads,
  });
  const inputNames = session.inputMetadata.map((m) => m.name);
  const outputNames = session.outputMetadata.map((m) => m.name);
  const fetches: Record<string, null> = Object.fromEntries(outputNames.map((name) => [name, null]));
  async function run(feeds: Readonly<Record<string, FloatTensor>>) {
    const ortFeeds: Record<string, InstanceType<OrtModule['Tensor']>> = {};
    for (const name of inputNames) {
      const tensor = feeds[name];
      // The public API's check, with its message: onnxruntime's own would name a node, not the input.
      if (tensor === undefined) throw new Error(`input '${name}' is missing in 'feeds'.`);
      ortFeeds[name] = new ort.Tensor('float32', tensor.data, [...tensor.dims]);
    }
    const started = performance.now();
    const results = session.run(ortFeeds, fetches, {});
    const latencyMs = performance.now() - started;
    return { outputs: toFloatOutputs(results), latencyMs };
  }
  return { inputNames, outputNames, path: 'direct' as const, run };
}

async function createPublicSession(ort: OrtModule, bytes: Uint8Array, threads: number) {
  const session = await ort.InferenceSession.create(bytes, { ...SESSION_OPTIONS, intraOpNumThreads: threads });
  async function run(feeds: Readonly<Record<string, FloatTensor>>) {
    const ortFeeds: Record<string, InstanceType<OrtModule['Tensor']>> = {};
    for (const [name, tensor] of Object.entries(feeds))
      ortFeeds[name] = new ort.Tensor('float32', tensor.data, [...tensor.dims]);
    const started = performance.now();
    const results = await session.run(ortFeeds);
    const latencyMs = performance.now() - started;
    return { outputs: toFloatOutputs(results as Record<string, OrtValueLike>), latencyMs };
  }
  return { inputNames: [...session.inputNames], outputNames: [...session.outputNames], path: 'public' as const, run };
}

/**
 * Creates an onnxruntime session from model bytes. Sequential execution with one inter-op
 * thread emulates an edge device more faithfully than ORT's all-cores default. Runs through
 * the native session directly when this onnxruntime-node has it where expected (see
 * nativeBinding), else through the public API; `via` forces one (tests compare both).
 */
export async function createOrtSession(
  bytes: Uint8Array,
  options: OrtSessionOptions & { readonly via?: 'direct' | 'public' },
): Promise<OrtModelSession> {
  const ort = await import('onnxruntime-node');
  const native = options.via === 'public' ? null : nativeBinding();
  if (options.via === 'direct' && native === null)
    throw new Error('this onnxruntime-node has no native session at dist/binding.js');
  const session =
    native === null
      ? await createPublicSession(ort, bytes, options.intraOpNumThreads)
      : createDirectSession(ort, native, bytes, options.intraOpNumThreads);
  return Object.freeze(session);
}
