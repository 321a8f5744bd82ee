import { EdgefleetError } from '@edgefleet/shared';
import { createRng, deriveSeed, type Rng } from '../data/prng.js';
import type { Dataset, SampleTensor } from '../data/tensor.js';
import { augmentSample, imageGeometryOf, type AugmentOptions, type ImageGeometry } from './augment.js';
import { tf } from './backend.js';
import { createProjections, type FeaturePair, type Projections } from './features.js';
import type { QuantHooks, RecordedStat, TrainableGraph } from './graph/trainable.js';
import { countCorrect, crossEntropy, distillationLoss, featureLoss } from './losses.js';
import type { Teacher, TeacherTensor } from './teacher.js';

/**
 * The training loop shared by plain training, fine-tuning, distillation and quantization-aware
 * training: Adam on a loss made of hard labels (cross-entropy), soft teacher targets (KD) and
 * matched features, over seeded shuffles and augmentations. Deterministic for a seed: weights
 * come from the model, batches and augmentations from seeded generators, the teacher from
 * onnxruntime on one thread, and TensorFlow.js's wasm backend runs single-threaded.
 */

/** Options of {@link fitGraph}. */
export interface FitOptions {
  /** Seed of the shuffles and augmentations. */
  readonly seed: number;
  readonly epochs: number;
  /** Samples per step; default 64. */
  readonly batchSize?: number;
  /** Adam learning rate at the start; default 0.001. */
  readonly learningRate?: number;
  /** `cosine` (default) decays the rate to 0 over all steps; `constant` keeps it. */
  readonly schedule?: 'constant' | 'cosine';
  /** Random geometric augmentation of image inputs; default none. */
  readonly augment?: AugmentOptions;
  /** Distil from this teacher (run on every augmented batch). */
  readonly teacher?: Teacher;
  /** Softmax temperature of the soft targets; default 4. */
  readonly temperature?: number;
  /** Weight of the soft-target term when labels are used too (1 − alpha on the labels); default 0.9. */
  readonly alpha?: number;
  /** Intermediate tensors to match (student value, teacher value, weight). */
  readonly features?: readonly FeaturePair[];
  /** Use the data's labels; default true when it has labels. Without labels a teacher is required. */
  readonly useLabels?: boolean;
  /** Dropout while training: rate per value name (e.g. a Flatten's output); default none. */
  readonly dropout?: Readonly<Record<string, number>>;
  /** Fake quantization (quantization-aware training). */
  readonly quant?: QuantHooks;
  /** Labelled data to report accuracy on after every epoch (not used for any choice). */
  readonly validation?: Dataset;
  readonly onProgress?: (p: TrainProgress) => void;
  /** Stops after the current step; the result says `stopped`. */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

/** Progress events: every step, and a summary after every epoch. */
export type TrainProgress =
  | {
      readonly kind: 'step';
      readonly epoch: number;
      readonly step: number;
      readonly steps: number;
      readonly loss: number;
    }
  | ({ readonly kind: 'epoch' } & EpochReport);

/** What one epoch did. */
export interface EpochReport {
  readonly epoch: number;
  readonly epochs: number;
  /** Mean training loss. */
  readonly loss: number;
  /** Accuracy on the (augmented) training batches, when labels are known. */
  readonly trainAccuracy: number | undefined;
  /** Accuracy on `validation`, when given. */
  readonly validationAccuracy: number | undefined;
  readonly learningRate: number;
  readonly ms: number;
}

/** Result of {@link fitGraph}; the graph holds the trained weights. */
export interface FitResult {
  readonly epochs: readonly EpochReport[];
  /** true when the signal stopped training early. */
  readonly stopped: boolean;
  readonly trainMs: number;
}

function inputTensor(data: Dataset, graph: TrainableGraph): SampleTensor {
  const t =
    data.inputs[graph.inputName] ?? (Object.keys(data.inputs).length === 1 ? Object.values(data.inputs)[0] : undefined);
  const want = graph.inputDims.slice(1);
  if (t?.dtype !== 'float32' || t.dims.length !== want.length + 1 || want.some((d, i) => d !== t.dims[i + 1]))
    throw new EdgefleetError(
      'EF_ERR_TRAIN_DATA',
      `data ${data.source} does not fit input ${graph.inputName} ` +
        `[N,${want.join(',')}]${t ? ` (it has [${t.dims.join(',')}] ${t.dtype})` : ''}`,
      {},
    );
  return t;
}

/** Top-1 accuracy of the graph (with fake quantization when `quant` is given) on labelled data. */
export function accuracyOfGraph(graph: TrainableGraph, data: Dataset, quant?: QuantHooks, batchSize = 256): number {
  if (!data.labels) throw new EdgefleetError('EF_ERR_TRAIN_DATA', `data ${data.source} has no labels`, {});
  const x = inputTensor(data, graph);
  const per = x.data.length / data.count;
  const logitsName = graph.logitsName;
  let correct = 0;
  for (let at = 0; at < data.count; at += batchSize) {
    const n = Math.min(batchSize, data.count - at);
    const logits = tf.tidy(() => {
      const xb = tf.tensor((x.data as Float32Array).subarray(at * per, (at + n) * per), [n, ...x.dims.slice(1)]);
      const r = graph.forward(xb, { training: false, taps: [logitsName], ...(quant ? { quant } : {}) });
      return (r.taps.get(logitsName) as tf.Tensor).dataSync() as Float32Array;
    });
    correct += countCorrect(logits, logits.length / n, data.labels.subarray(at, at + n));
  }
  return correct / data.count;
}

/** The student and the teacher must score the same classes. */
async function checkTeacherFits(graph: TrainableGraph, teacher: Teacher, sampleDims: readonly number[]): Promise<void> {
  const t = (await teacher.shapes(sampleDims)).get(teacher.logitsName) ?? [];
  const s = graph.valueShapes.get(graph.logitsName) ?? [];
  if (t.join(',') !== s.join(','))
    throw new EdgefleetError(
      'EF_ERR_TRAIN_OPTIONS',
      `the student's scores ${graph.logitsName} [N,${s.join(',')}] do not match the teacher's ${teacher.logitsName} ` +
        `[N,${t.join(',')}]`,
      {},
    );
}

interface StepInput {
  readonly x: Float32Array;
  readonly dims: number[];
  readonly labels: Int32Array | undefined;
  readonly teacher: Map<string, TeacherTensor> | undefined;
  readonly dropSeed: number;
}

/** The checked inputs of a run: the data's input tensor and how to cut and augment batches. */
interface FitData {
  readonly x: SampleTensor;
  readonly sampleDims: number[];
  readonly per: number;
  readonly geometry: ImageGeometry | undefined;
  readonly useLabels: boolean;
}

function checkFit(graph: TrainableGraph, data: Dataset, opts: FitOptions): FitData {
  const useLabels = opts.useLabels ?? data.labels !== undefined;
  if (useLabels && !data.labels)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_DATA',
      `data ${data.source} has no labels; distil from a teacher instead`,
      {},
    );
  if (!useLabels && !opts.teacher)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_DATA',
      'training without labels needs a teacher (an unlabelled transfer set is only usable for distillation)',
      {},
    );
  const x = inputTensor(data, graph);
  const sampleDims = x.dims.slice(1);
  const geometry = opts.augment ? imageGeometryOf(sampleDims) : undefined;
  if (opts.augment && !geometry)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_OPTIONS',
      `augmentation needs image inputs; this one is [N,${sampleDims.join(',')}]`,
      {},
    );
  return { x, sampleDims, per: x.data.length / data.count, geometry, useLabels };
}

/** The samples `idx`, augmented when asked (the generator advances once per sample). */
function makeBatch(
  d: FitData,
  data: Dataset,
  idx: readonly number[],
  augRng: Rng,
  opts: FitOptions,
  tmp: Float32Array,
) {
  const xb = new Float32Array(idx.length * d.per);
  idx.forEach((src, k) => {
    const sample = (d.x.data as Float32Array).subarray(src * d.per, (src + 1) * d.per);
    if (d.geometry && opts.augment) {
      augmentSample(sample, tmp, d.geometry, augRng, opts.augment);
      xb.set(tmp, k * d.per);
    } else xb.set(sample, k * d.per);
  });
  const labels = d.useLabels ? Int32Array.from(idx, (i) => data.labels?.[i] ?? 0) : undefined;
  return { x: xb, dims: [idx.length, ...d.sampleDims], labels };
}

/** Train `graph` in place on `data`. */
export async function fitGraph(graph: TrainableGraph, data: Dataset, opts: FitOptions): Promise<FitResult> {
  const d = checkFit(graph, data, opts);
  const now = opts.now ?? (() => performance.now());
  const batchSize = opts.batchSize ?? 64;
  const stepsPerEpoch = Math.ceil(data.count / batchSize);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const baseLr = opts.learningRate ?? 0.001;
  const lrAt = (step: number): number =>
    opts.schedule === 'constant' ? baseLr : 0.5 * baseLr * (1 + Math.cos((Math.PI * step) / totalSteps));
  const order = createRng(deriveSeed(opts.seed, 'shuffle'));
  const augRng = createRng(deriveSeed(opts.seed, 'augment'));
  if (opts.teacher) await checkTeacherFits(graph, opts.teacher, d.sampleDims);
  const projections = await createProjections(graph, opts.features ?? [], opts.teacher, opts.seed);
  const optimizer = tf.train.adam(baseLr);
  const vars = [...graph.trainableVariables(), ...projections.variables];
  const reports: EpochReport[] = [];
  const tmp = new Float32Array(d.per);
  const start = now();
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const t0 = now();
      const perm = order.shuffle(Array.from({ length: data.count }, (_, i) => i));
      const sums = { loss: 0, correct: 0, seen: 0 };
      for (let s = 0; s < stepsPerEpoch; s++) {
        // A stopped epoch is not reported: `epochs` lists complete epochs only.
        if (opts.signal?.aborted) return { epochs: reports, stopped: true, trainMs: now() - start };
        const batch = makeBatch(d, data, perm.slice(s * batchSize, (s + 1) * batchSize), augRng, opts, tmp);
        const teacher = opts.teacher ? await opts.teacher.run(batch.x, batch.dims) : undefined;
        (optimizer as unknown as { learningRate: number }).learningRate = lrAt(step);
        const dropSeed = deriveSeed(opts.seed, `dropout:${step}`);
        const r = trainStep(graph, optimizer, vars, projections, { ...batch, teacher, dropSeed }, opts);
        if (!Number.isFinite(r.loss))
          throw new EdgefleetError(
            'EF_ERR_TRAIN_DIVERGED',
            `the loss became ${r.loss} at epoch ${epoch}, step ${s + 1}; lower the learning rate (now ${lrAt(step)})`,
            { epoch, step: s + 1 },
          );
        sums.loss += r.loss * (batch.dims[0] as number);
        sums.correct += r.correct;
        sums.seen += batch.dims[0] as number;
        step++;
        opts.onProgress?.({ kind: 'step', epoch, step: s + 1, steps: stepsPerEpoch, loss: r.loss });
      }
      const report: EpochReport = {
        epoch,
        epochs: opts.epochs,
        loss: sums.loss / sums.seen,
        trainAccuracy: d.useLabels ? sums.correct / sums.seen : undefined,
        validationAccuracy: opts.validation ? accuracyOfGraph(graph, opts.validation, opts.quant) : undefined,
        learningRate: lrAt(step - 1),
        ms: now() - t0,
      };
      reports.push(report);
      opts.onProgress?.({ kind: 'epoch', ...report });
    }
  } finally {
    optimizer.dispose();
    projections.dispose();
  }
  return { epochs: reports, stopped: false, trainMs: now() - start };
}

function trainStep(
  graph: TrainableGraph,
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  projections: Projections,
  input: StepInput,
  opts: FitOptions,
): { loss: number; correct: number } {
  let stats: readonly RecordedStat[] = [];
  let logitsOut: tf.Tensor | undefined;
  const logitsName = graph.logitsName;
  const taps = [logitsName, ...(opts.features ?? []).map((f) => f.student)];
  // Gradients first, update only after the loss is known to be finite: a diverged step must
  // not write NaN into the weights the caller still holds.
  const { value: cost, grads } = tf.variableGrads(() => {
    const r = graph.forward(tf.tensor(input.x, input.dims), {
      training: true,
      taps,
      ...(opts.quant ? { quant: opts.quant } : {}),
      ...(opts.dropout ? { dropout: { rates: opts.dropout, seed: input.dropSeed } } : {}),
    });
    stats = r.stats;
    const logits = r.taps.get(logitsName) as tf.Tensor;
    logitsOut = tf.keep(logits);
    const terms: tf.Scalar[] = [];
    const alpha = opts.alpha ?? 0.9;
    const teacherLogits = input.teacher?.get(opts.teacher?.logitsName ?? '');
    if (teacherLogits) {
      const t = tf.tensor(teacherLogits.data, [...teacherLogits.dims]);
      const kd = distillationLoss(logits, t, opts.temperature ?? 4);
      terms.push(input.labels ? tf.mul(kd, alpha) : kd);
    }
    if (input.labels) {
      const ce = crossEntropy(logits, tf.tensor1d(input.labels, 'int32'));
      terms.push(teacherLogits ? tf.mul(ce, 1 - alpha) : ce);
    }
    for (const f of opts.features ?? []) {
      const t = input.teacher?.get(f.teacher);
      if (!t) continue;
      const s = projections.apply(f, r.taps.get(f.student) as tf.Tensor);
      terms.push(tf.mul(featureLoss(s, tf.tensor(t.data, [...t.dims])), f.weight ?? 1));
    }
    return tf.addN(terms) as tf.Scalar;
  }, vars);
  const loss = cost.dataSync()[0] ?? Number.NaN;
  cost.dispose();
  if (Number.isFinite(loss)) {
    optimizer.applyGradients(grads);
    graph.applyStats(stats);
  } else for (const s of stats) s.value.dispose();
  tf.dispose(grads);
  const logits = logitsOut ? (logitsOut.dataSync() as Float32Array) : new Float32Array();
  logitsOut?.dispose();
  const n = input.dims[0] as number;
  const correct = input.labels ? countCorrect(logits, logits.length / n, input.labels) : 0;
  return { loss, correct };
}
