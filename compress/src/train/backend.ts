import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

/**
 * The one place that chooses TensorFlow.js's backend for training. The wasm backend runs
 * dense layers and forward convolutions through XNNPACK and is one to two orders of
 * magnitude faster than the pure-JS `cpu` backend on this kind of machine; it lacks the
 * convolution filter gradient, which `conv2d-grad.ts` supplies from ops it does have.
 */
export type TrainBackend = 'wasm' | 'cpu';

export { tf };

/** Select and initialise a backend; returns the one actually in use. */
export async function useTrainBackend(preferred: TrainBackend = 'wasm'): Promise<TrainBackend> {
  if (tf.getBackend() === preferred) return preferred;
  const ok = await tf.setBackend(preferred);
  await tf.ready();
  if (!ok) throw new Error(`TensorFlow.js backend "${preferred}" failed to initialise`);
  return preferred;
}
