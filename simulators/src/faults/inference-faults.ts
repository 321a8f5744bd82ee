/**
 * Hardware faults injected into a device's inference, so a real agent (real worker, real
 * onnxruntime, real swap) can be made to fail its golden-set smoke test honestly instead of
 * through a forged report. They enter through the agent's one inference seam,
 * `DeviceOptions.wrapWorker`: the agent itself has no notion of a fault.
 *
 * `corruptOutputs` models an accelerator whose quantized kernels compute wrongly [issue 7]:
 * the model loads and runs, every value stays finite, but each row's scores come back
 * shifted one lane along the last axis (as a kernel with a mis-laid-out int8 output would
 * write them), so the top-1 class is wrong on every row while nothing crashes.
 */
import type { FloatTensor, ModelWorker, RunOptions } from '@edgefleet/agent';

/** Faults a simulated device's inference suffers. All default to off. */
export interface InferenceFaults {
  /** Inference outputs come back with each row rotated one lane (finite but wrong). Default false. */
  readonly corruptOutputs?: boolean;
}

/** A row-wise rotation by one lane along the last axis; pure (returns a new tensor). */
export function corruptTensor(tensor: FloatTensor): FloatTensor {
  const width = tensor.dims[tensor.dims.length - 1] ?? 0;
  if (width < 2) return tensor;
  const data = new Float32Array(tensor.data.length);
  for (let start = 0; start + width <= data.length; start += width) {
    for (let i = 0; i < width; i += 1) data[start + i] = tensor.data[start + ((i + 1) % width)] ?? 0;
  }
  return { dims: tensor.dims, data };
}

/**
 * Wraps a worker so its `run()` results pass through the faults in force at the time of the
 * call (read through `faults()`, so a fault can start mid-life, as a failing part does).
 * With no fault active it returns the worker's results untouched.
 */
export function withFaults(worker: ModelWorker, faults: () => InferenceFaults): ModelWorker {
  return Object.freeze({
    ...worker,
    async run(feeds: Readonly<Record<string, FloatTensor>>, options?: RunOptions) {
      const result = await worker.run(feeds, options);
      if (!faults().corruptOutputs) return result;
      const outputs = Object.fromEntries(Object.entries(result.outputs).map(([name, t]) => [name, corruptTensor(t)]));
      return { ...result, outputs };
    },
  });
}

/** A device's fault switch: pass `wrap` as the device's `wrapWorker`, then `set` faults at any time (`{}` heals). */
export interface InferenceFaultSwitch {
  readonly wrap: (worker: ModelWorker) => ModelWorker;
  set(faults: InferenceFaults): void;
  current(): InferenceFaults;
}

export function createInferenceFaults(initial: InferenceFaults = {}): InferenceFaultSwitch {
  let faults = initial;
  return Object.freeze({
    wrap: (worker: ModelWorker) => withFaults(worker, () => faults),
    set: (next: InferenceFaults) => {
      faults = next;
    },
    current: () => faults,
  });
}
