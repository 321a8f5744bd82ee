import { loadMnist, MNIST_SPLIT_SEED } from '../data/mnist.js';
import type { Dataset } from '../data/tensor.js';
import { sha256Hex, writeModel, type Model } from '../ir/index.js';
import { createOrtSession } from '../runtime/ort.js';
import { MNIST_CNN, MNIST_CNN_LARGE, MNIST_MLP, type ArchSpec } from './arch.js';
import { exportArch, ZOO_INPUT, ZOO_OUTPUT } from './export-onnx.js';
import { buildDistilledZooModel, buildGraphZooModel, type GraphFitRecipe } from './zoo-graph.js';
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
  | { readonly engine: 'graph'; readonly arch: ArchSpec; readonly fit: GraphFitRecipe; readonly floor: number }
  | {
      /** A student distilled from another zoo model (built first, read from the output directory). */
      readonly engine: 'distill';
      readonly teacher: ZooTeacher;
      /** Student spec (`student-spec.ts`), built from the teacher with the fit seed. */
      readonly student: string;
      readonly fit: GraphFitRecipe;
      readonly temperature: number;
      readonly alpha: number;
      readonly floor: number;
    };

/** Zoo models that can teach a distilled zoo student. */
export type ZooTeacher = 'mnist-cnn-large';

/** The zoo: change a recipe, run `npm run zoo`, commit models/zoo/. */
export const ZOO_RECIPES: Readonly<
  Record<'mnist-mlp' | 'mnist-cnn' | 'mnist-cnn-large' | 'mnist-cnn-large-student', ZooRecipe>
> = Object.freeze({
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
  'mnist-cnn-large-student': {
    engine: 'distill',
    teacher: 'mnist-cnn-large',
    student: 'arch:c16,p2,c32,p2,d64',
    floor: 0.978,
    temperature: 4,
    alpha: 0.9,
    fit: {
      seed: 1,
      epochs: 20,
      batchSize: 64,
      learningRate: 0.001,
      schedule: 'cosine',
      augment: { shift: 2, rotate: 10, scale: 0.1 },
    },
  },
});

/** Input layout of a zoo model: `flat` [N,784] or `image` [N,1,28,28]. */
export function zooLayout(name: ZooName): 'flat' | 'image' {
  const r = ZOO_RECIPES[name];
  return r.engine === 'distill' ? zooLayout(r.teacher) : r.arch.input;
}

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
  /** For a distilled student: what taught it and how. */
  readonly distillation?: {
    readonly teacher: string;
    readonly teacherSha256: string;
    readonly teacherTop1: number;
    readonly teacherParams: number;
    readonly student: string;
    readonly studentParams: number;
    readonly temperature: number;
    readonly alpha: number;
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
  /** Where a distilled student's teacher is read from; default models/zoo. */
  teacherDir = 'models/zoo',
): Promise<{ model: Model; bytes: Uint8Array; card: ZooCard }> {
  const recipe = ZOO_RECIPES[name];
  if (recipe.engine === 'graph') return buildGraphZooModel(name, recipe, onEpoch);
  if (recipe.engine === 'distill') return buildDistilledZooModel(name, recipe, teacherDir, onEpoch);
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
export async function evaluatedCard(
  name: ZooName,
  bytes: Uint8Array,
  test: Dataset,
  tfjsLogits: Float32Array,
): Promise<Omit<ZooCard, 'training'>> {
  const onnx = await ortLogits(bytes, test);
  let maxDiff = 0;
  for (let i = 0; i < onnx.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs((onnx[i] as number) - (tfjsLogits[i] as number)));
  const top1 = top1Accuracy(onnx, test.labels as Int32Array);
  const flat = zooLayout(name) === 'flat';
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
