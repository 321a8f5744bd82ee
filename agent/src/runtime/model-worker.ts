/**
 * The agent's handle on one inference worker thread holding one model. A worker that dies
 * (native crash, uncaught error, out of memory) fails its pending and future calls with
 * EF_ERR_RUNTIME_CRASH and tells `onCrash`; it never takes the agent down with it.
 */
import type { Worker } from 'node:worker_threads';
import { EdgefleetError, spawnModuleWorker } from '@edgefleet/shared/device';
import type { FloatTensor } from './ort.js';
import type { LoadResult, RunResult, WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface ModelWorkerOptions {
  /** onnxruntime intra-op threads; 0 lets ORT choose. Default 1 (one core, like a small device). */
  readonly intraOpNumThreads?: number;
  /** Called once if the worker dies without being terminated by us. */
  readonly onCrash?: (reason: string) => void;
  /** Worker heap cap in MB (the model bytes live in native memory, not here). Default: Node's. */
  readonly maxOldGenerationSizeMb?: number;
  /**
   * The module the thread runs. Default: the onnxruntime inference worker. Another module must
   * speak worker-protocol.ts (simulators and tests use one that fails the way a native runtime can).
   */
  readonly workerModule?: URL;
}

export interface RunOptions {
  /** Hand the input buffers to the worker instead of copying them; the caller's arrays are detached. Default false. */
  readonly transfer?: boolean;
}

export interface ModelWorker {
  /** Where the session runs: its own worker thread, or the agent's thread (inline-model.ts). */
  readonly kind: 'worker' | 'inline';
  /** Loads the model; rejects with EF_ERR_RUNTIME_LOAD (bad model) or EF_ERR_RUNTIME_CRASH. */
  load(bytes: Uint8Array): Promise<LoadResult>;
  /** Runs once; rejects with EF_ERR_RUNTIME_RUN or EF_ERR_RUNTIME_CRASH. */
  run(feeds: Readonly<Record<string, FloatTensor>>, options?: RunOptions): Promise<RunResult>;
  /** Ends the thread (and with it the session's native memory). Idempotent. */
  terminate(): Promise<void>;
  /** `null` while alive, or why it died. */
  deadReason(): string | null;
  /** Input and output names once loaded. */
  info(): LoadResult | null;
}

interface Pending {
  readonly resolve: (value: LoadResult | RunResult) => void;
  readonly reject: (err: Error) => void;
}

/** Starts a fresh worker thread (no model yet). */
export function createModelWorker(options: ModelWorkerOptions = {}): ModelWorker {
  const intraOpNumThreads = options.intraOpNumThreads ?? 1;
  const resourceLimits =
    options.maxOldGenerationSizeMb === undefined
      ? undefined
      : { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb };
  const worker: Worker = spawnModuleWorker(
    options.workerModule ?? new URL('./inference-worker.js', import.meta.url),
    resourceLimits ? { resourceLimits } : {},
  );
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let dead: string | null = null;
  let terminating = false;
  let loaded: LoadResult | null = null;

  function die(reason: string): void {
    if (dead !== null) return;
    dead = reason;
    const err = new EdgefleetError(
      'EF_ERR_RUNTIME_CRASH',
      `inference worker died: ${reason}; the agent keeps running and the model must be loaded into a fresh worker`,
      { reason },
    );
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    if (!terminating) options.onCrash?.(reason);
  }

  worker.on('message', (message: WorkerReply) => {
    const p = pending.get(message.id);
    if (!p) return;
    pending.delete(message.id);
    if (message.ok) {
      p.resolve(message.result);
      return;
    }
    const code = message.error.phase === 'load' ? 'EF_ERR_RUNTIME_LOAD' : 'EF_ERR_RUNTIME_RUN';
    p.reject(
      new EdgefleetError(code, `onnxruntime ${message.error.phase} failed: ${message.error.message}`, {
        phase: message.error.phase,
      }),
    );
  });
  worker.on('error', (err: Error) => die(`uncaught error: ${err.message}`));
  worker.on('exit', (code: number) => die(terminating ? 'terminated' : `exited with code ${code}`));

  function call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<LoadResult | RunResult> {
    if (dead !== null)
      return Promise.reject(
        new EdgefleetError(
          'EF_ERR_RUNTIME_CRASH',
          `inference worker is gone (${dead}); load the model into a fresh worker`,
          { reason: dead },
        ),
      );
    return new Promise((resolve, reject) => {
      pending.set(request.id, { resolve, reject });
      worker.postMessage(request, transfer);
    });
  }

  async function load(bytes: Uint8Array): Promise<LoadResult> {
    // Copy so the caller's buffer survives the transfer.
    const copy = new Uint8Array(bytes);
    const result = (await call({ id: nextId++, op: 'load', bytes: copy, intraOpNumThreads }, [
      copy.buffer,
    ])) as LoadResult;
    loaded = result;
    return result;
  }

  async function run(feeds: Readonly<Record<string, FloatTensor>>, runOptions: RunOptions = {}): Promise<RunResult> {
    // The local API builds its feeds per request, so it can hand them over instead of having them copied.
    const transfer = runOptions.transfer
      ? [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))]
      : [];
    return (await call({ id: nextId++, op: 'run', feeds }, transfer)) as RunResult;
  }

  async function terminate(): Promise<void> {
    if (terminating) return;
    terminating = true;
    await worker.terminate();
    die('terminated');
  }

  return Object.freeze({
    kind: 'worker' as const,
    load,
    run,
    terminate,
    deadReason: () => dead,
    info: () => loaded,
  });
}
