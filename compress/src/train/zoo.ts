import { loadMnist, MNIST_SPLIT_SEED } from '../data/mnist.js';
import type { Dataset } from '../data/tensor.js';
import { sha256Hex, writeModel, type Model } from '../ir/index.js';
import { createOrtSession } from '../runtime/ort.js';
import { MNIST_CNN, MNIST_MLP, type ArchSpec } from './arch.js';
import { exportArch, ZOO_INPUT, ZOO_OUTPUT } from './export-onnx.js';
import { predictArch, top1Accuracy, trainArch, type EpochStat, type TrainOptions } from './trainer.js';

/** How one zoo teacher is trained: the architecture and every training hyper-parameter. */
export interface ZooRecipe {
  readonly arch: ArchSpec;
  readonly train: Omit<TrainOptions, 'onEpoch' | 'now'>;
  /** Test accuracy the committed model must reach (issue 3). */
  readonly floor: number;
}

/** The zoo: change a recipe, run `npm run zoo`, commit models/zoo/. */
export const ZOO_RECIPES: Readonly<Record<'mnist-mlp' | 'mnist-cnn', ZooRecipe>> = Object.freeze({
  'mnist-mlp': {
    arch: MNIST_MLP,
    floor: 0.96,
    train: { seed: 1, epochs: 30, batchSize: 64, learningRate: 0.001, lrDecay: 0.9, augmentShift: 2, backend: 'wasm' },
  },
  'mnist-cnn': {
    arch: MNIST_CNN,
    floor: 0.975,
    train: { seed: 1, epochs: 20, batchSize: 64, learningRate: 0.001, lrDecay: 0.9, augmentShift: 1, backend: 'wasm' },
  },
});

export type ZooName = keyof typeof ZOO_RECIPES;

/** The JSON card committed next to each model. */
export interface ZooCard {
  readonly name: string;
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly input: { readonly name: string; readonly dims: ReadonlyArray<number | string> };
  readonly output: { readonly name: string; readonly dims: ReadonlyArray<number | string> };
  /** Top-1 on the held-out test split, computed by onnxruntime on the exported file. */
  readonly accuracy: {
    readonly split: 'test';
    readonly top1: number;
    readonly correct: number;
    readonly count: number;
  };
  /** Largest |ONNX − TensorFlow.js| logit difference over the test split. */
  readonly exportMaxAbsDiff: number;
  readonly training: {
    readonly library: string;
    readonly backend: string;
    readonly seed: number;
    readonly splitSeed: number;
    readonly trainSamples: number;
    readonly epochs: number;
    readonly batchSize: number;
    readonly learningRate: number;
    readonly lrDecay: number;
    readonly augmentShift: number;
    readonly trainMs: number;
    readonly epochMs: readonly number[];
    readonly finalLoss: number;
  };
}

/** Logits [N,10] of a model on a dataset, through onnxruntime (one batch). */
export async function ortLogits(bytes: Uint8Array, data: Dataset): Promise<Float32Array> {
  const session = await createOrtSession(bytes);
  try {
    const input = Object.values(data.inputs)[0];
    if (input?.dtype !== 'float32') throw new TypeError('zoo data has one float32 input');
    const out = await session.run({
      [ZOO_INPUT]: { dtype: 'float32', dims: input.dims, data: input.data as Float32Array },
    });
    const logits = out[ZOO_OUTPUT];
    if (logits?.dtype !== 'float32') throw new Error(`model has no float32 output ${ZOO_OUTPUT}`);
    return logits.data;
  } finally {
    await session.release();
  }
}

/**
 * Train one zoo teacher, export it through the IR, and check with onnxruntime that the ONNX
 * file reproduces TensorFlow.js's logits on the test split. Returns the model, its bytes
 * and its card; the caller writes them.
 */
export async function buildZooModel(
  name: ZooName,
  onEpoch?: (s: EpochStat) => void,
): Promise<{ model: Model; bytes: Uint8Array; card: ZooCard }> {
  const recipe = ZOO_RECIPES[name];
  const train = loadMnist({ split: 'train' });
  const result = await trainArch(recipe.arch, train, { ...recipe.train, ...(onEpoch ? { onEpoch } : {}) });
  const epochs = recipe.train.epochs ?? 5;
  const model = exportArch(recipe.arch, result.params, { seed: recipe.train.seed, epochs });
  const bytes = writeModel(model);
  const layout = recipe.arch.input === 'flat' ? 'flat' : 'image';
  const test = loadMnist({ split: 'test', layout });
  const labels = test.labels as Int32Array;
  const onnx = await ortLogits(bytes, test);
  const tfjs = predictArch(recipe.arch, result.params, test.inputs.input?.data as Float32Array, test.count);
  let maxDiff = 0;
  for (let i = 0; i < onnx.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs((onnx[i] as number) - (tfjs[i] as number)));
  const top1 = top1Accuracy(onnx, labels);
  const card: ZooCard = {
    name,
    file: `${name}.onnx`,
    sha256: sha256Hex(bytes),
    bytes: bytes.byteLength,
    input: { name: ZOO_INPUT, dims: layout === 'flat' ? ['N', 784] : ['N', 1, 28, 28] },
    output: { name: ZOO_OUTPUT, dims: ['N', 10] },
    accuracy: { split: 'test', top1, correct: Math.round(top1 * test.count), count: test.count },
    exportMaxAbsDiff: maxDiff,
    training: {
      library: '@tensorflow/tfjs 4.22',
      backend: result.backend,
      seed: recipe.train.seed,
      splitSeed: MNIST_SPLIT_SEED,
      trainSamples: train.count,
      epochs,
      batchSize: recipe.train.batchSize ?? 64,
      learningRate: recipe.train.learningRate ?? 0.001,
      lrDecay: recipe.train.lrDecay ?? 1,
      augmentShift: recipe.train.augmentShift ?? 0,
      trainMs: Math.round(result.trainMs),
      epochMs: result.epochs.map((e) => Math.round(e.ms)),
      finalLoss: result.epochs.at(-1)?.meanLoss ?? Number.NaN,
    },
  };
  return { model, bytes, card };
}
