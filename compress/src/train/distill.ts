import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { sliceDataset, type Dataset } from '../data/tensor.js';
import type { Model } from '../ir/types.js';
import type { RangeMethod } from '../passes/static-ranges.js';
import type { AugmentOptions } from './augment.js';
import type { FeaturePair } from './features.js';
import { fitGraph, type EpochReport, type TrainProgress } from './fit.js';
import { importTrainable, type BatchNormMode } from './graph/trainable.js';
import { prepareQat } from './qat.js';
import { buildStudent, type StudentTransform } from './student-spec.js';
import { parameterCountOf } from './students.js';
import { createTeacher, type Teacher } from './teacher.js';

/**
 * The library's training entry points. `trainModel` trains any ONNX model of the trainable set
 * (a student built here, a pruned model, a model to fine-tune): with labels, from a teacher
 * (knowledge distillation, labels optional), or both, then optionally quantization-aware
 * training, and returns the new ONNX model (float, or int8-static's QDQ graph after QAT).
 * `distillModel` builds the student from a spec first.
 */

/** Hyper-parameters of one training phase. */
export interface PhaseOptions {
  readonly epochs: number;
  /** Adam learning rate; default 0.001 (float phase), 0.0001 (QAT phase). */
  readonly learningRate?: number;
  readonly batchSize?: number;
  readonly schedule?: 'constant' | 'cosine';
}

/** Options of {@link trainModel}. */
export interface TrainModelOptions extends PhaseOptions {
  /** Seed of shuffles, augmentation and dropout (and of the student's init in distillModel). */
  readonly seed: number;
  /** Training data; labels are used when present (set `useLabels: false` to ignore them). */
  readonly data: Dataset;
  readonly useLabels?: boolean;
  /** Distil from this model, run by onnxruntime on every augmented batch. */
  readonly teacher?: Model;
  /** Soft-target temperature; default 4. */
  readonly temperature?: number;
  /** Weight of the soft targets against the labels; default 0.9. */
  readonly alpha?: number;
  /** Intermediate tensors to match between student and teacher. */
  readonly features?: readonly FeaturePair[];
  readonly augment?: AugmentOptions;
  readonly dropout?: Readonly<Record<string, number>>;
  readonly batchNorm?: BatchNormMode;
  /** After the float phase, QAT for these epochs on the same loss; the result is the QDQ model. */
  readonly qat?: PhaseOptions & {
    /** Calibration samples for the activation ranges; default the first 256 training samples. */
    readonly calib?: Dataset;
    readonly method?: RangeMethod;
  };
  /** Labelled data for per-epoch accuracy on the terminal (never for a choice). */
  readonly validation?: Dataset;
  readonly onProgress?: (p: TrainProgress & { readonly phase: 'float' | 'qat' }) => void;
  readonly signal?: AbortSignal;
  /**
   * When the signal stops the float phase: return the weights as trained so far (the report says
   * where it stopped; no QAT) instead of throwing EF_ERR_TRAIN_STOPPED. A search's deadline uses
   * it: a finalist cut short is still a model, judged on its real accuracy.
   */
  readonly keepStopped?: boolean;
  readonly now?: () => number;
}

/** What a training run did. */
export interface TrainReport {
  readonly mode: 'distill' | 'train';
  readonly seed: number;
  readonly studentParams: number;
  readonly teacherParams: number | undefined;
  readonly epochs: readonly EpochReport[];
  readonly qat: { readonly epochs: readonly EpochReport[]; readonly quantizedNodes: number } | undefined;
  readonly trainMs: number;
  /** Set when the signal stopped the float phase and `keepStopped` kept its weights. */
  readonly stopped?: { readonly epochs: number; readonly steps: number };
}

/** Result of {@link trainModel}: the trained model (QDQ after QAT) and the float one it came from. */
export interface TrainModelResult {
  readonly model: Model;
  readonly float: Model;
  readonly report: TrainReport;
}

function stopped(phase: string, epochs: number): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_TRAIN_STOPPED',
    `training was stopped during the ${phase} phase after ${epochs} complete epoch(s); nothing was written`,
    { phase, epochs },
  );
}

/** Train `student` (copied; the caller's model is unchanged). */
export async function trainModel(student: Model, opts: TrainModelOptions): Promise<TrainModelResult> {
  const now = opts.now ?? (() => performance.now());
  const start = now();
  const graph = await importTrainable(student, opts.batchNorm ? { batchNorm: opts.batchNorm } : {});
  let teacher: Teacher | undefined;
  try {
    teacher = opts.teacher
      ? await createTeacher(
          opts.teacher,
          (opts.features ?? []).map((f) => f.teacher),
        )
      : undefined;
    const common = {
      seed: opts.seed,
      ...stripUndefined({ useLabels: opts.useLabels }),
      ...(teacher ? { teacher } : {}),
      ...stripUndefined({ temperature: opts.temperature }),
      ...stripUndefined({ alpha: opts.alpha }),
      ...(opts.features ? { features: opts.features } : {}),
      ...(opts.augment ? { augment: opts.augment } : {}),
      ...(opts.validation ? { validation: opts.validation } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    };
    const phase = (p: PhaseOptions) => ({
      epochs: p.epochs,
      ...stripUndefined({ learningRate: p.learningRate }),
      ...stripUndefined({ batchSize: p.batchSize }),
      ...stripUndefined({ schedule: p.schedule }),
    });
    let steps = 0;
    const floatRun = await fitGraph(graph, opts.data, {
      ...common,
      ...phase(opts),
      ...(opts.dropout ? { dropout: opts.dropout } : {}),
      onProgress: (p) => {
        if (p.kind === 'step') steps++;
        opts.onProgress?.({ ...p, phase: 'float' });
      },
    });
    if (floatRun.stopped && opts.keepStopped !== true) throw stopped('float', floatRun.epochs.length);
    const float = graph.exportModel();
    let model = float;
    let qat: TrainReport['qat'];
    if (opts.qat && !floatRun.stopped) {
      const calib = opts.qat.calib ?? sliceDataset(opts.data, 0, Math.min(256, opts.data.count));
      const setup = await prepareQat(graph, calib, opts.qat.method ? { method: opts.qat.method } : {});
      const qatRun = await fitGraph(graph, opts.data, {
        ...common,
        ...phase({ learningRate: 0.0001, ...opts.qat }),
        seed: opts.seed + 1,
        quant: setup.hooks,
        onProgress: (p) => opts.onProgress?.({ ...p, phase: 'qat' }),
      });
      if (qatRun.stopped) throw stopped('QAT', qatRun.epochs.length);
      model = await setup.exportQdq();
      qat = { epochs: qatRun.epochs, quantizedNodes: setup.quantizedNodes };
    }
    const report: TrainReport = {
      mode: teacher ? 'distill' : 'train',
      seed: opts.seed,
      studentParams: parameterCountOf(float),
      teacherParams: opts.teacher ? parameterCountOf(opts.teacher) : undefined,
      epochs: floatRun.epochs,
      qat,
      trainMs: now() - start,
      ...(floatRun.stopped ? { stopped: { epochs: floatRun.epochs.length, steps } } : {}),
    };
    return { model, float, report };
  } finally {
    graph.dispose();
    await teacher?.release();
  }
}

/** Build a student of `teacher` from a spec (seeded init) and distil it. */
export async function distillModel(
  teacher: Model,
  student: string | readonly StudentTransform[],
  opts: Omit<TrainModelOptions, 'teacher'> & { readonly kd?: boolean },
): Promise<TrainModelResult> {
  const { model } = buildStudent(teacher, student, opts.seed);
  return trainModel(model, { ...opts, ...(opts.kd === false ? {} : { teacher }) });
}
