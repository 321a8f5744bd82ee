/**
 * The agent's handle on one inference worker thread holding one model. A worker that dies
 * (native crash, uncaught error, out of memory) fails its pending and future calls with
 * EF_ERR_RUNTIME_CRASH and tells `onCrash`; it never takes the agent down with it.
 *
 * Calls travel on a MessageChannel with a shared counter word (worker-protocol.ts). For a
 * model whose recent runs took well under a millisecond, `run()` waits for its answer on
 * the counter (`Atomics.wait`, at most `syncWaitMs`) instead of returning to the event loop:
 * a thread wake costs a few microseconds where an event-loop round trip costs tens, and the
 * loop is held no longer than an inline onnxruntime run would hold it. Anything slower is
 * answered through the port's message event.
 */
import { MessageChannel, receiveMessageOnPort, type Worker } from 'node:worker_threads';
import { EdgefleetError, spawnModuleWorker } from '@edgefleet/shared';
import type { FloatTensor } from './ort.js';
import {
  CONTROL_SLOTS,
  REPLIES,
  REQUESTS,
  type LoadResult,
  type RunResult,
  type WorkerReply,
  type WorkerRequest,
} from './worker-protocol.js';

export interface ModelWorkerOptions {
  /** onnxruntime intra-op threads; 0 lets ORT choose. Default 1 (one core, like a small device). */
  readonly intraOpNumThreads?: number;
  /** Called once if the worker dies without being terminated by us. */
  readonly onCrash?: (reason: string) => void;
  /** Worker heap cap in MB (the model bytes live in native memory, not here). Default: Node's. */
  readonly maxOldGenerationSizeMb?: number;
  /**
   * Longest the agent's thread waits synchronously for a small model's answer, ms; 0 always
   * waits on the event loop. Default 0: on a loaded 2-core host the synchronous wait won no
   * median time and its tail was worse (`npm run bench:agent`, docs/design-notes.md).
   */
  readonly syncWaitMs?: number;
}

export interface RunOptions {
  /** Hand the input buffers to the worker instead of copying them; the caller's arrays are detached. Default false. */
  readonly transfer?: boolean;
}

export interface ModelWorker {
  /** Loads the model; rejects with EF_ERR_RUNTIME_LOAD (bad model) or EF_ERR_RUNTIME_CRASH. */
  load(bytes: Uint8Array): Promise<LoadResult>;
  /** Runs once; rejects with EF_ERR_RUNTIME_RUN or EF_ERR_RUNTIME_CRASH. */
  run(feeds: Readonly<Record<string, FloatTensor>>, options?: RunOptions): Promise<RunResult>;
  /** Ends the thread (and with it the session's native memory). Idempotent. */
  terminate(): Promise<void>;
  /** Fault injection: the worker throws an uncaught error. */
  injectCrash(): void;
  /** `null` while alive, or why it died. */
  deadReason(): string | null;
  /** Input and output names once loaded. */
  info(): LoadResult | null;
}

interface Pending {
  readonly resolve: (value: LoadResult | RunResult) => void;
  readonly reject: (err: Error) => void;
}

/** Recent run latency (ms) below which a call waits synchronously; far under `syncWaitMs` so a normal call never times out. */
const SYNC_LATENCY_MS = 0.5;

/** Starts a fresh worker thread (no model yet). */
export function createModelWorker(options: ModelWorkerOptions = {}): ModelWorker {
  const intraOpNumThreads = options.intraOpNumThreads ?? 1;
  const syncWaitMs = options.syncWaitMs ?? 0;
  const control = new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  const counters = new Int32Array(control);
  const { port1: port, port2 } = new MessageChannel();
  const worker: Worker = spawnModuleWorker(new URL('./inference-worker.js', import.meta.url), {
    workerData: { port: port2, control },
    transferList: [port2],
    ...(options.maxOldGenerationSizeMb === undefined
      ? {}
      : { resourceLimits: { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb } }),
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let dead: string | null = null;
  let terminating = false;
  let loaded: LoadResult | null = null;
  // Smoothed run latency; starts high so the first calls use the event loop until one was measured.
  let recentLatencyMs = Number.POSITIVE_INFINITY;

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
    port.close();
    if (!terminating) options.onCrash?.(reason);
  }

  function settle(message: WorkerReply): void {
    const p = pending.get(message.id);
    if (!p) return;
    pending.delete(message.id);
    if (message.ok) {
      if ('latencyMs' in message.result) {
        const ms = message.result.latencyMs;
        recentLatencyMs = Number.isFinite(recentLatencyMs) ? 0.8 * recentLatencyMs + 0.2 * ms : ms;
      }
      p.resolve(message.result);
      return;
    }
    const code = message.error.phase === 'load' ? 'EF_ERR_RUNTIME_LOAD' : 'EF_ERR_RUNTIME_RUN';
    p.reject(
      new EdgefleetError(code, `onnxruntime ${message.error.phase} failed: ${message.error.message}`, {
        phase: message.error.phase,
      }),
    );
  }

  /** Takes every reply waiting on the port (the message event may not have fired yet). */
  function drain(): void {
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port))
      settle(next.message as WorkerReply);
  }

  /** Waits on the reply counter for at most `syncWaitMs`, taking replies as they come, until `id` is answered. */
  function waitSync(id: number): void {
    const deadline = performance.now() + syncWaitMs;
    for (;;) {
      const seen = Atomics.load(counters, REPLIES);
      drain();
      if (!pending.has(id) || dead !== null) return;
      const left = deadline - performance.now();
      if (left <= 0) return;
      Atomics.wait(counters, REPLIES, seen, left);
    }
  }

  port.on('message', (message: WorkerReply) => settle(message));
  worker.on('error', (err: Error) => die(`uncaught error: ${err.message}`));
  worker.on('exit', (code: number) => die(terminating ? 'terminated' : `exited with code ${code}`));

  function post(request: WorkerRequest, transfer: ArrayBuffer[]): void {
    port.postMessage(request, transfer);
    Atomics.add(counters, REQUESTS, 1);
    Atomics.notify(counters, REQUESTS);
  }

  function call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<LoadResult | RunResult> {
    if (dead !== null)
      return Promise.reject(
        new EdgefleetError(
          'EF_ERR_RUNTIME_CRASH',
          `inference worker is gone (${dead}); load the model into a fresh worker`,
          { reason: dead },
        ),
      );
    const answer = new Promise<LoadResult | RunResult>((resolve, reject) => {
      pending.set(request.id, { resolve, reject });
    });
    post(request, transfer);
    const small = request.op === 'run' && recentLatencyMs < SYNC_LATENCY_MS;
    if (small && syncWaitMs > 0 && pending.size === 1) waitSync(request.id);
    return answer;
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

  function injectCrash(): void {
    if (dead === null) post({ id: nextId++, op: 'crash' }, []);
  }

  return Object.freeze({ load, run, terminate, injectCrash, deadReason: () => dead, info: () => loaded });
}
