/**
 * A model served on the agent's own thread: the same onnxruntime session as the inference
 * worker's, without the thread hop. For a small model the hop is most of a request (two
 * thread wake-ups and a message each way: ~0.06–0.11 ms on a ~0.03 ms mnist-cnn run), and the
 * worker's V8 isolate is ~25 MB of the agent's resident memory.
 *
 * The agent only serves a model inline once it has loaded, run and passed its smoke test in
 * a worker, and its measured runs are short (inline-policy.ts). What isolation is given up,
 * and what replaces it:
 * - a run that throws (bad input, onnxruntime error) rejects the call, as in the worker;
 * - a run that never returns would freeze the event loop: the run watchdog (run-watchdog.ts),
 *   a supervisor process outside the agent, kills the agent after its deadline and the
 *   restarted agent serves that model in a worker (inline-policy.ts keeps the record);
 * - a supervisor that goes away (killed by hand or by the OOM killer) leaves the model
 *   unwatched: `onLost` is told, and the device serves the model from a worker again;
 * - a native crash (SIGSEGV) ends the process in both designs, since a worker thread shares
 *   it; the restarted agent likewise never serves that model inline again.
 */
import { asError, EdgefleetError } from '@edgefleet/shared/device';
import type { ModelWorker, RunOptions } from './model-worker.js';
import { createOrtSession, type FloatTensor, type OrtModelSession } from './ort.js';
import { startRunWatchdog, type RunWatchdog } from './run-watchdog.js';
import type { LoadResult, RunResult } from './worker-protocol.js';

export interface InlineModelOptions {
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. Default 1. */
  readonly intraOpNumThreads?: number;
  /** A run in progress longer than this kills the agent (see run-watchdog.ts), ms. */
  readonly hangDeadlineMs: number;
  /** Named in the watchdog's last words: the model's digest. */
  readonly label: string;
  /** Called once if the watchdog is lost: the model may no longer serve on the agent thread. */
  readonly onLost?: (reason: string) => void;
}

/** Loads `bytes` into a session on this thread, with its watchdog; rejects with EF_ERR_RUNTIME_LOAD. */
export async function createInlineModel(bytes: Uint8Array, options: InlineModelOptions): Promise<ModelWorker> {
  const started = performance.now();
  let dead: string | null = null;
  // The watchdog first: a session never runs on this thread unwatched, and no bash costs no session.
  const watchdog: RunWatchdog = await startRunWatchdog({
    deadlineMs: options.hangDeadlineMs,
    label: options.label,
    onLost: (reason) => {
      if (dead !== null) return;
      dead = reason;
      options.onLost?.(reason);
    },
  });
  let session: OrtModelSession;
  try {
    session = await createOrtSession(bytes, { intraOpNumThreads: options.intraOpNumThreads ?? 1 });
  } catch (err: unknown) {
    dead = 'failed to load';
    await watchdog.stop();
    throw new EdgefleetError('EF_ERR_RUNTIME_LOAD', `onnxruntime load failed: ${asError(err).message}`, {
      phase: 'load',
    });
  }
  const info: LoadResult = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    loadMs: performance.now() - started,
  };

  async function run(feeds: Readonly<Record<string, FloatTensor>>, _options?: RunOptions): Promise<RunResult> {
    if (dead !== null)
      throw new EdgefleetError('EF_ERR_RUNTIME_CRASH', `inline model is gone (${dead}); load it again`, {
        reason: dead,
      });
    try {
      return await session.run(feeds);
    } catch (err: unknown) {
      throw new EdgefleetError('EF_ERR_RUNTIME_RUN', `onnxruntime run failed: ${asError(err).message}`, {
        phase: 'run',
      });
    }
  }

  async function terminate(): Promise<void> {
    if (dead !== null) return;
    dead = 'terminated';
    // The session's native memory goes with the garbage collector; a released session in a
    // long-lived process may keep some of it (mqtt-stack.md §7), which is why only small
    // models, a few per lifetime, are served inline.
    await watchdog.stop();
  }

  return Object.freeze({
    kind: 'inline' as const,
    load: () =>
      Promise.reject(new EdgefleetError('EF_ERR_RUNTIME_LOAD', 'an inline model is loaded once, at creation')),
    run,
    terminate,
    deadReason: () => dead,
    info: () => info,
  });
}
