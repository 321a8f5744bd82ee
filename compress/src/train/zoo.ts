import { loadMnist, MNIST_SPLIT_SEED } from '../data/mnist.js';
import type { Dataset } from '../data/tensor.js';
import { sha256Hex, writeModel, type Model } from '../ir/index.js';
import { createOrtSession } from '../runtime/ort.js';
import { measureCallCost, type CallCost } from '../eval/call-cost.js';
import { MNIST_CNN, MNIST_CNN_LARGE, MNIST_MLP, type ArchSpec } from './arch.js';
import { exportArch, ZOO_INPUT, ZOO_OUTPUT } from './export-onnx.js';
import { trainGraphRecipe, type GraphFitRecipe } from './zoo-graph.js';
import { predictArch, top1Accuracy, trainArch, type EpochStat, type TrainOptions } from './trainer.js';

/**
 * How one zoo teacher is trained: the architecture and every training hyper-parameter. The
 * first two teachers train with the original trainer (`engine` absent or `arch`), which keeps
 * their committed weights reproducible; newer ones train through the graph trainer (`graph`),
 * the same code that distils and fine-tunes.
 */
export type ZooRecipe =
  | {
      readonly engine?: 'arch';
      readonly arch: ArchSpec;
      readonly train: Omit<TrainOptions, 'onEpoch' | 'now'>;
      /** Test accuracy the committed model must reach. */
      readonly floor: number;
    }
  | { readonly engine: 'graph'; readonly arch: ArchSpec; readonly fit: GraphFitRecipe; readonly floor: number };

/** The zoo: change a recipe, run `npm run zoo`, commit models/zoo/. */
export const ZOO_RECIPES: Readonly<Record<'mnist-mlp' | 'mnist-cnn' | 'mnist-cnn-large', ZooRecipe>> = Object.freeze({
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
  'mnist-cnn-large': {
    engine: 'graph',
    arch: MNIST_CNN_LARGE,
    floor: 0.988,
    fit: {
      seed: 1,
      epochs: 25,
      batchSize: 64,
      learningRate: 0.001,
      schedule: 'cosine',
      augment: { shift: 2, rotate: 10, scale: 0.1 },
      // As the Keras example: 25% after the pool, 50% after the hidden layer.
      dropout: { 'l2.out': 0.25, 'l4.relu': 0.5 },
    },
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
    /** `graph` for the graph trainer; absent for the original one. */
    readonly engine?: 'graph';
    readonly lrDecay?: number;
    readonly augmentShift?: number;
    readonly schedule?: string;
    readonly augment?: Readonly<Record<string, number>>;
    readonly dropout?: Readonly<Record<string, number>>;
    readonly trainMs: number;
    readonly epochMs: readonly number[];
    readonly finalLoss: number;
  };
  /** Batch-1 fp32 latency against the empty call, measured on the machine that built it (µs). */
  readonly callCost?: CallCost;
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
  if (recipe.engine === 'graph') return buildGraphZooModel(name, recipe, onEpoch);
  const train = loadMnist({ split: 'train' });
  const result = await trainArch(recipe.arch, train, { ...recipe.train, ...(onEpoch ? { onEpoch } : {}) });
  const epochs = recipe.train.epochs ?? 5;
  const model = exportArch(recipe.arch, result.params, { seed: recipe.train.seed, epochs });
  const bytes = writeModel(model);
  const layout = recipe.arch.input === 'flat' ? 'flat' : 'image';
  const test = loadMnist({ split: 'test', layout });
  const tfjs = predictArch(recipe.arch, result.params, test.inputs.input?.data as Float32Array, test.count);
  const card: ZooCard = {
    ...(await evaluatedCard(name, bytes, test, tfjs)),
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

/** The card fields every engine shares: file, interface, onnxruntime's test accuracy, export check. */
async function evaluatedCard(
  name: ZooName,
  bytes: Uint8Array,
  test: Dataset,
  tfjsLogits: Float32Array,
): Promise<Omit<ZooCard, 'training' | 'callCost'>> {
  const onnx = await ortLogits(bytes, test);
  let maxDiff = 0;
  for (let i = 0; i < onnx.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs((onnx[i] as number) - (tfjsLogits[i] as number)));
  const top1 = top1Accuracy(onnx, test.labels as Int32Array);
  const flat = ZOO_RECIPES[name].arch.input === 'flat';
  return {
    name,
    file: `${name}.onnx`,
    sha256: sha256Hex(bytes),
    bytes: bytes.byteLength,
    input: { name: ZOO_INPUT, dims: flat ? ['N', 784] : ['N', 1, 28, 28] },
    output: { name: ZOO_OUTPUT, dims: ['N', 10] },
    accuracy: { split: 'test', top1, correct: Math.round(top1 * test.count), count: test.count },
    exportMaxAbsDiff: maxDiff,
  };
}

async function buildGraphZooModel(
  name: ZooName,
  recipe: Extract<ZooRecipe, { engine: 'graph' }>,
  onEpoch?: (s: EpochStat) => void,
): Promise<{ model: Model; bytes: Uint8Array; card: ZooCard }> {
  const train = loadMnist({ split: 'train', layout: 'image' });
  const test = loadMnist({ split: 'test', layout: 'image' });
  const r = await trainGraphRecipe(recipe.arch, recipe.fit, train, test, onEpoch);
  const bytes = writeModel(r.model);
  const card: ZooCard = {
    ...(await evaluatedCard(name, bytes, test, r.testLogits)),
    training: {
      library: '@tensorflow/tfjs 4.22',
      backend: 'wasm',
      engine: 'graph',
      seed: recipe.fit.seed,
      splitSeed: MNIST_SPLIT_SEED,
      trainSamples: train.count,
      epochs: recipe.fit.epochs,
      batchSize: recipe.fit.batchSize ?? 64,
      learningRate: recipe.fit.learningRate ?? 0.001,
      schedule: recipe.fit.schedule ?? 'cosine',
      augment: { ...recipe.fit.augment },
      dropout: { ...recipe.fit.dropout },
      trainMs: Math.round(r.trainMs),
      epochMs: r.epochs.map((e) => Math.round(e.ms)),
      finalLoss: r.epochs.at(-1)?.loss ?? Number.NaN,
    },
    callCost: await measureCallCost(bytes, ZOO_INPUT, [1, 28, 28]),
  };
  return { model: r.model, bytes, card };
}
