/** Messages between the agent and its inference worker thread (internal, not on MQTT). */
import type { FloatTensor } from './ort.js';

export type WorkerRequest =
  | { readonly id: number; readonly op: 'load'; readonly bytes: Uint8Array; readonly intraOpNumThreads: number }
  | { readonly id: number; readonly op: 'run'; readonly feeds: Readonly<Record<string, FloatTensor>> };

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
