/**
 * The one agent module that imports onnxruntime-node [STYLE 2]. For now it only reports
 * the runtime's version and execution providers; the worker-thread inference runtime of a
 * later issue sits next to it and loads sessions through here too.
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
    const providers = ort.listSupportedBackends()
      .filter((b) => b.bundled && !UNPROBED_PROVIDERS.has(b.name))
      .map((b) => b.name);
    return Object.freeze({ version, executionProviders: Object.freeze(providers.length > 0 ? providers : ['cpu']) });
  })();
  return cached;
}
