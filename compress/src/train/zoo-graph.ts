import { loadMnist, MNIST_SPLIT_SEED } from '../data/mnist.js';
import type { Dataset } from '../data/tensor.js';
import { readModelFile, sha256Hex, writeModel, type Model } from '../ir/index.js';
import type { AugmentOptions } from './augment.js';
import type { ArchSpec } from './arch.js';
import { tf } from './backend.js';
import { ZOO_INPUT, ZOO_OUTPUT } from './export-onnx.js';
import { fitGraph, type EpochReport, type FitOptions } from './fit.js';
import { importTrainable } from './graph/trainable.js';
import { buildStudent } from './student-spec.js';
import { instantiateArch, parameterCountOf } from './students.js';
import { createTeacher } from './teacher.js';
import type { EpochStat } from './trainer.js';
import { evaluatedCard, type ZooCard, type ZooName, type ZooRecipe } from './zoo.js';
import { stripUndefined } from '@edgefleet/shared';

/**
 * Zoo models trained by the graph trainer: a teacher from its architecture and seed
 * (mnist-cnn-large), and students distilled from a zoo teacher (mnist-cnn-large-student).
 */

/** Hyper-parameters of a zoo model trained by the graph trainer. */
export interface GraphFitRecipe {
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly schedule?: 'constant' | 'cosine';
  readonly augment?: AugmentOptions;
  /** Dropout rate per value name of the exported graph (`l2.out` is layer 2's output). */
  readonly dropout?: Readonly<Record<string, number>>;
}

type Built = { model: Model; bytes: Uint8Array; card: ZooCard };

/**
 * Train `initial` with `fit` (plus `extra`: a teacher) and return the exported model with
 * TensorFlow.js's logits on `test`, to check the export against onnxruntime.
 */
async function trainModelOnce(
  initial: Model,
  fit: GraphFitRecipe,
  train: Dataset,
  test: Dataset,
  extra: Partial<FitOptions>,
  onEpoch?: (s: EpochStat) => void,
): Promise<{ model: Model; testLogits: Float32Array; epochs: readonly EpochReport[]; trainMs: number }> {
  const g = await importTrainable(initial);
  try {
    const r = await fitGraph(g, train, {
      ...fit,
      ...extra,
      onProgress: (p) => {
        if (p.kind === 'epoch')
          onEpoch?.({
            epoch: p.epoch,
            meanLoss: p.loss,
            ms: p.ms,
            ...stripUndefined({ trainAccuracy: p.trainAccuracy }),
          });
      },
    });
    const x = test.inputs[ZOO_INPUT];
    if (x?.dtype !== 'float32') throw new TypeError('test data has no float32 input');
    const testLogits = tf.tidy(
      () =>
        g
          .forward(tf.tensor(x.data as Float32Array, [...x.dims]), { training: false })
          .output.dataSync() as Float32Array,
    );
    return { model: g.exportModel(), testLogits, epochs: r.epochs, trainMs: r.trainMs };
  } finally {
    g.dispose();
  }
}

function trainingCard(fit: GraphFitRecipe, train: Dataset, r: { epochs: readonly EpochReport[]; trainMs: number }) {
  return {
    library: '@tensorflow/tfjs 4.22',
    backend: 'wasm',
    engine: 'graph' as const,
    seed: fit.seed,
    splitSeed: MNIST_SPLIT_SEED,
    trainSamples: train.count,
    epochs: fit.epochs,
    batchSize: fit.batchSize ?? 64,
    learningRate: fit.learningRate ?? 0.001,
    schedule: fit.schedule ?? 'cosine',
    ...(fit.augment ? { augment: { ...fit.augment } } : {}),
    ...(fit.dropout ? { dropout: { ...fit.dropout } } : {}),
    trainMs: Math.round(r.trainMs),
    epochMs: r.epochs.map((e) => Math.round(e.ms)),
    finalLoss: r.epochs.at(-1)?.loss ?? Number.NaN,
  };
}

function describe(model: Model, name: string, what: string, fit: GraphFitRecipe): void {
  model.docString =
    `edgefleet zoo ${what} ${name}: trained with TensorFlow.js (graph trainer) on the MNIST train ` +
    `split (seed ${fit.seed}, ${fit.epochs} epochs); output is 10 class scores (logits).`;
  model.metadataProps.push(
    { key: 'edgefleet.arch', value: name },
    { key: 'edgefleet.seed', value: String(fit.seed) },
    { key: 'edgefleet.epochs', value: String(fit.epochs) },
  );
}

/** A zoo teacher from its architecture and seed. */
export async function buildGraphZooModel(
  name: ZooName,
  recipe: Extract<ZooRecipe, { engine: 'graph' }>,
  onEpoch?: (s: EpochStat) => void,
): Promise<Built> {
  const train = loadMnist({ split: 'train', layout: 'image' });
  const test = loadMnist({ split: 'test', layout: 'image' });
  const init = instantiateArch(recipe.arch as ArchSpec, recipe.fit.seed, { input: ZOO_INPUT, output: ZOO_OUTPUT });
  const r = await trainModelOnce(init, recipe.fit, train, test, {}, onEpoch);
  describe(r.model, name, 'teacher', recipe.fit);
  const bytes = writeModel(r.model);
  const card: ZooCard = {
    ...(await evaluatedCard(name, bytes, test, r.testLogits)),
    training: trainingCard(recipe.fit, train, r),
  };
  return { model: r.model, bytes, card };
}

/** A student distilled from a zoo teacher read from `teacherDir`. */
export async function buildDistilledZooModel(
  name: ZooName,
  recipe: Extract<ZooRecipe, { engine: 'distill' }>,
  teacherDir: string,
  onEpoch?: (s: EpochStat) => void,
): Promise<Built> {
  const teacherModel = await readModelFile(`${teacherDir}/${recipe.teacher}.onnx`);
  const teacherBytes = writeModel(teacherModel);
  const train = loadMnist({ split: 'train', layout: 'image' });
  const test = loadMnist({ split: 'test', layout: 'image' });
  const { model: init } = buildStudent(teacherModel, recipe.student, recipe.fit.seed);
  const teacher = await createTeacher(teacherModel);
  let r: Awaited<ReturnType<typeof trainModelOnce>>;
  try {
    r = await trainModelOnce(
      init,
      recipe.fit,
      train,
      test,
      { teacher, temperature: recipe.temperature, alpha: recipe.alpha },
      onEpoch,
    );
  } finally {
    await teacher.release();
  }
  describe(r.model, name, 'student', recipe.fit);
  const bytes = writeModel(r.model);
  const teacherCard = await evaluatedCard(recipe.teacher, teacherBytes, test, new Float32Array(0));
  const card: ZooCard = {
    ...(await evaluatedCard(name, bytes, test, r.testLogits)),
    training: trainingCard(recipe.fit, train, r),
    distillation: {
      teacher: recipe.teacher,
      teacherSha256: sha256Hex(teacherBytes),
      teacherTop1: teacherCard.accuracy.top1,
      teacherParams: parameterCountOf(teacherModel),
      student: recipe.student,
      studentParams: parameterCountOf(r.model),
      temperature: recipe.temperature,
      alpha: recipe.alpha,
    },
  };
  return { model: r.model, bytes, card };
}
