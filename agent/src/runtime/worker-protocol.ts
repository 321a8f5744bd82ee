/**
 * How the agent talks to its inference worker thread (internal, not on MQTT): requests and
 * replies travel on a MessagePort, and a shared two-counter word says that one was posted, so
 * each side can sleep on a futex (`Atomics.wait`) instead of an event-loop wake-up. That is
 * what keeps a small model's call close to a bare onnxruntime run (measured in
 * `npm run bench:agent`).
 *
 *   control[REQUESTS]  requests posted by the agent   (the worker sleeps while it is unchanged)
 *   control[REPLIES]   replies posted by the worker   (the agent may sleep while it is unchanged)
 */
import type { MessagePort } from 'node:worker_threads';
import type { FloatTensor } from './ort.js';

export const REQUESTS = 0;
export const REPLIES = 1;
/** Int32 slots in the control buffer. */
export const CONTROL_SLOTS = 2;

/** What the worker receives at start (`workerData`). */
export interface WorkerChannelData {
  readonly port: MessagePort;
  readonly control: SharedArrayBuffer;
}

export type WorkerRequest =
  | { readonly id: number; readonly op: 'load'; readonly bytes: Uint8Array; readonly intraOpNumThreads: number }
  | { readonly id: number; readonly op: 'run'; readonly feeds: Readonly<Record<string, FloatTensor>> }
  /** Fault injection for simulations and tests: the worker dies with an uncaught error. */
  | { readonly id: number; readonly op: 'crash' };

export interface LoadResult {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly loadMs: number;
}

export interface RunResult {
  readonly outputs: Record<string, FloatTensor>;
  readonly latencyMs: number;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: LoadResult | RunResult }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly message: string; readonly phase: 'load' | 'run' };
    };
