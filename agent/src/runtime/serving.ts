/**
 * The serving slot: which worker answers inference right now. Switching is one assignment,
 * so every request runs entirely on the old model or entirely on the new one; the old
 * worker is handed back to the caller, who ends it once the swap is final.
 */
import { EdgefleetError } from '@edgefleet/shared/device';
import type { ModelWorker, RunOptions } from './model-worker.js';
import type { FloatTensor } from './ort.js';

/** What is serving: the worker and the identity of its model. */
export interface ServingModel {
  readonly worker: ModelWorker;
  readonly sha256: string;
  readonly variantId: string;
  readonly deploymentId: string | null;
}

export interface InferenceResult {
  readonly outputs: Record<string, FloatTensor>;
  readonly latencyMs: number;
  readonly sha256: string;
  readonly variantId: string;
}

export interface ServingStats {
  readonly inferences: number;
  readonly errors: number;
  readonly switches: number;
}

export interface ServingRuntime {
  current(): ServingModel | null;
  /** Input names of the serving model (empty when nothing serves). */
  inputNames(): readonly string[];
  /** Makes `next` serve (null: nothing); returns the model that served before (or null), still running. */
  switchTo(next: ServingModel | null): ServingModel | null;
  /** Runs on whatever serves now; rejects with EF_ERR_SERVE_NO_MODEL when nothing does. */
  infer(feeds: Readonly<Record<string, FloatTensor>>, options?: RunOptions): Promise<InferenceResult>;
  /** Observers of every inference (latency meters, drift monitors of issue 7). */
  onInference(listener: (result: InferenceResult) => void): () => void;
  stats(): ServingStats;
  /** Terminates the serving worker. */
  close(): Promise<void>;
}

/** What a request gets while no model serves (EF_ERR_SERVE_NO_MODEL, HTTP 503). */
export function noModelError(): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_SERVE_NO_MODEL',
    'no model is serving yet; wait for a deployment or check the agent log for a failed one',
  );
}

export function createServingRuntime(): ServingRuntime {
  let serving: ServingModel | null = null;
  const listeners = new Set<(result: InferenceResult) => void>();
  const counters = { inferences: 0, errors: 0, switches: 0 };

  function switchTo(next: ServingModel | null): ServingModel | null {
    const before = serving;
    serving = next;
    counters.switches += 1;
    return before;
  }

  async function infer(feeds: Readonly<Record<string, FloatTensor>>, options?: RunOptions): Promise<InferenceResult> {
    const model = serving;
    if (!model) throw noModelError();
    try {
      const { outputs, latencyMs } = await model.worker.run(feeds, options);
      counters.inferences += 1;
      const result = { outputs, latencyMs, sha256: model.sha256, variantId: model.variantId };
      for (const listener of listeners) listener(result);
      return result;
    } catch (err: unknown) {
      counters.errors += 1;
      throw err;
    }
  }

  function onInference(listener: (result: InferenceResult) => void): () => void {
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  async function close(): Promise<void> {
    const model = serving;
    serving = null;
    await model?.worker.terminate();
  }

  return Object.freeze({
    current: () => serving,
    inputNames: () => serving?.worker.info()?.inputNames ?? [],
    switchTo,
    infer,
    onInference,
    stats: () => ({ ...counters }),
    close,
  });
}
