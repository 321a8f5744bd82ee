import { createRng, deriveSeed } from '../data/prng.js';
import type { Dataset } from '../data/tensor.js';
import { forward, initParams, type ArchSpec, type ParamArray } from './arch.js';
import { drawShift, shiftImage } from './augment.js';
import { tf, useTrainBackend, type TrainBackend } from './backend.js';

/** Options of {@link trainArch}. */
export interface TrainOptions {
  /** Seed of weight init and of the per-epoch shuffles. */
  readonly seed: number;
  /** Passes over the training set; default 5. */
  readonly epochs?: number;
  /** Samples per step; default 64. */
  readonly batchSize?: number;
  /** Adam learning rate; default 0.001. */
  readonly learningRate?: number;
  /** Translate each training image by up to this many pixels (seeded); default 0 (off). */
  readonly augmentShift?: number;
  /** Multiply the learning rate by this after every epoch; default 1 (constant). */
  readonly lrDecay?: number;
  /** TensorFlow.js backend; default `wasm`. */
  readonly backend?: TrainBackend;
  /** Called after every epoch (progress). */
  readonly onEpoch?: (stat: EpochStat) => void;
  /** Clock for timings; default `performance.now`. */
  readonly now?: () => number;
}

/** What one epoch did. */
export interface EpochStat {
  readonly epoch: number;
  readonly meanLoss: number;
  readonly ms: number;
  /** Accuracy on the training batches, where the trainer reports it. */
  readonly trainAccuracy?: number;
}

/** Trained weights plus how they were obtained. */
export interface TrainResult {
  readonly params: ParamArray[];
  readonly epochs: readonly EpochStat[];
  readonly trainMs: number;
  readonly backend: TrainBackend;
}

let trainRuns = 0;

/** Flat [N,784] pixels and labels of a dataset (its first input). */
function flatPixels(ds: Dataset): Float32Array {
  const first = Object.values(ds.inputs)[0];
  if (first?.dtype !== 'float32') throw new TypeError('training data needs one float32 input');
  return first.data as Float32Array;
}

/**
 * Train `arch` with Adam on softmax cross-entropy. Deterministic for a given seed and
 * backend: weights come from our seeded generator, batches from a seeded shuffle.
 */
export async function trainArch(arch: ArchSpec, data: Dataset, opts: TrainOptions): Promise<TrainResult> {
  if (!data.labels) throw new TypeError('training data needs labels');
  const labels = data.labels;
  const backend = await useTrainBackend(opts.backend ?? 'wasm');
  const now = opts.now ?? (() => performance.now());
  const epochs = opts.epochs ?? 5;
  const batchSize = opts.batchSize ?? 64;
  const pixels = flatPixels(data);
  const init = initParams(arch, opts.seed);
  // tfjs variable names are global per process; a run counter keeps concurrent trainings apart.
  const run = ++trainRuns;
  const vars = init.map((p) =>
    tf.variable(tf.tensor(p.values, [...p.shape]), true, `${arch.name}.${p.name}.run${run}`),
  );
  const baseLr = opts.learningRate ?? 0.001;
  const rng = createRng(deriveSeed(opts.seed, 'shuffle'));
  const augRng = createRng(deriveSeed(opts.seed, 'augment'));
  const shift = opts.augmentShift ?? 0;
  const tmp = new Float32Array(784);
  const optimizer = tf.train.adam(baseLr);
  const stats: EpochStat[] = [];
  const start = now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = now();
    // A fresh Adam per epoch would reset its moments; instead only its learning rate moves
    // (tfjs declares the field protected but reads it on every step).
    (optimizer as unknown as { learningRate: number }).learningRate = baseLr * (opts.lrDecay ?? 1) ** (epoch - 1);
    const order = rng.shuffle(Array.from({ length: data.count }, (_, i) => i));
    let lossSum = 0;
    let steps = 0;
    for (let at = 0; at < order.length; at += batchSize) {
      const idx = order.slice(at, at + batchSize);
      const xb = new Float32Array(idx.length * 784);
      const yb = new Int32Array(idx.length);
      idx.forEach((src, k) => {
        const img = pixels.subarray(src * 784, (src + 1) * 784);
        if (shift > 0) {
          const [dx, dy] = drawShift(augRng, shift);
          shiftImage(img, tmp, dx, dy);
          xb.set(tmp, k * 784);
        } else xb.set(img, k * 784);
        yb[k] = labels[src] as number;
      });
      const loss = tf.tidy(() => {
        const x = tf.tensor2d(xb, [idx.length, 784]);
        const y = tf.oneHot(tf.tensor1d(yb, 'int32'), 10);
        const l = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, forward(arch, vars, x)) as tf.Scalar,
          true,
          vars,
        );
        if (!l) throw new Error('optimizer returned no loss');
        return l;
      });
      lossSum += loss.dataSync()[0] as number;
      loss.dispose();
      steps++;
    }
    const stat = { epoch, meanLoss: lossSum / Math.max(1, steps), ms: now() - t0 };
    stats.push(stat);
    opts.onEpoch?.(stat);
  }
  const trainMs = now() - start;
  const params = init.map((p, i) => ({ ...p, values: (vars[i] as tf.Variable).dataSync() as Float32Array }));
  optimizer.dispose();
  for (const v of vars) v.dispose();
  return { params, epochs: stats, trainMs, backend };
}

/** Logits [N,10] of `arch` with `params` on flat pixels, through TensorFlow.js. */
export function predictArch(
  arch: ArchSpec,
  params: readonly ParamArray[],
  pixels: Float32Array,
  count: number,
): Float32Array {
  return tf.tidy(() => {
    const vars = params.map((p) => tf.tensor(p.values, [...p.shape]));
    return forward(arch, vars, tf.tensor2d(pixels, [count, 784])).dataSync() as Float32Array;
  });
}

/** Top-1 accuracy of logits [N,10] against labels. */
export function top1Accuracy(logits: Float32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if ((logits[i * 10 + c] as number) > (logits[i * 10 + best] as number)) best = c;
    if (best === labels[i]) correct++;
  }
  return labels.length === 0 ? 0 : correct / labels.length;
}
