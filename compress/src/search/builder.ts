import { EdgefleetError } from '@edgefleet/shared';
import { createOrtCalibrationRunner } from '../calibration/collect.js';
import { sliceDataset, type Dataset } from '../data/tensor.js';
import { accuracyOf } from '../eval/metrics.js';
import { collectOutput } from '../eval/run.js';
import { loadModel, writeModel, type Model } from '../ir/index.js';
import { runPipeline } from '../pipeline.js';
import { passFor, PRESETS } from '../recipes.js';
import { createOrtSession } from '../runtime/ort.js';
import { trainModel } from '../train/distill.js';
import { buildStudent } from '../train/student-spec.js';
import { createRefitCache } from './refit-teacher.js';
import type { BuildLimit, BuiltCandidate, CandidateBuilder } from './search-model.js';
import type { Candidate } from './space.js';
import type { UnitPrecision } from './latency/units.js';

/**
 * The real candidate builder: a pruned teacher inherits its weights (structured prune to the
 * candidate's per-layer ratios + least-squares reconstruction, issue 14), a student is built to
 * the candidate's shape (issue 15); either is then distilled from the teacher and quantized per
 * layer (int8-static with the float layers excluded; fp16 as a whole-model pass when every float
 * layer is fp16).
 *
 * Two stages, as once-for-all, AMC and the EON Tuner do it: at `search` a candidate gets a short
 * distillation on a subset, a *proxy* of its accuracy that ranks candidates (and that the search
 * treats as an objective, not a floor); at `final` a finalist gets the full budget (all training
 * data, more epochs, the zoo student's augmentation) and QAT when post-training quantization loses
 * more than `qatThresholdPts` against its float model. A pruned teacher already starts near the
 * teacher, so its short proxy fine-tune runs at a tenth of a student's learning rate; its final
 * training runs at the full rate (cosine decay), which a pruned and pool-folded teacher needs to
 * recover. Either is kept only when it helps on validation (a fine-tune can lose what the refit
 * recovered).
 *
 * A build's {@link BuildLimit} (the search's time budget) is checked after every training step:
 * training stops there and the model as trained so far is kept (`cut` says how far it got); QAT is
 * skipped or cut, leaving post-training int8. Pruned teachers come from refit-teacher.ts.
 */
export interface BuilderOptions {
  readonly teacher: Model;
  /** Training data (labels used alongside the teacher's soft targets). */
  readonly train: Dataset;
  /** Calibration for pruning's refit and int8 ranges. */
  readonly calib: Dataset;
  /** Where candidates are scored (never the test split). */
  readonly validation: Dataset;
  readonly seed: number;
  /** Distillation epochs per candidate during the search; default 1. */
  readonly searchEpochs?: number;
  /** Distillation epochs of the finalist; default 8. */
  readonly finalEpochs?: number;
  /**
   * Augment the finalist's training (shifts, rotations, scaling, as the zoo student); default true. Off, an
   * epoch costs ~half (a lean test's finalist).
   */
  readonly finalAugment?: boolean;
  /** QAT epochs of the finalist when PTQ loses too much; default 2. */
  readonly qatEpochs?: number;
  /** Points PTQ may lose before the finalist gets QAT; default 0.3. */
  readonly qatThresholdPts?: number;
  /** Training samples per search epoch (a subset keeps candidates cheap); default all. */
  readonly searchSamples?: number;
  /** Learning rate (a pruned teacher's search-stage proxy fine-tunes at a tenth of it); default 0.001. */
  readonly learningRate?: number;
  /** Training progress (each step and epoch), e.g. for a terminal. */
  readonly onTrain?: (p: BuildProgress) => void;
  readonly signal?: AbortSignal;
}

/** What the builder is training, for progress lines. */
export interface BuildProgress {
  readonly stage: 'search' | 'final';
  readonly phase: 'float' | 'qat';
  readonly family: Candidate['family'];
  readonly epoch: number;
  readonly epochs: number;
  readonly step?: number;
  readonly steps?: number;
}

/** The zoo student's augmentation (compress/src/train/zoo.ts), for finalists' full training. */
const FINAL_AUGMENT = { shift: 2, rotate: 10, scale: 0.1 } as const;

/** Top-1 (percent) of a model in onnxruntime. */
export async function top1Pct(model: Model | Uint8Array, data: Dataset): Promise<number> {
  if (!data.labels) throw new EdgefleetError('EF_ERR_DATA_SOURCE', `data ${data.source} has no labels`, {});
  const session = await createOrtSession(model instanceof Uint8Array ? model : writeModel(model));
  try {
    const out = await collectOutput(session, data, 256);
    return accuracyOf(out.values, data.labels).top1 * 100;
  } finally {
    await session.release();
  }
}

/** Conv/Gemm/MatMul nodes in graph order: the candidate's compute layers, for per-layer precision. */
function computeNodes(model: Model): string[] {
  return model.graph.nodes
    .filter((n) => n.opType === 'Conv' || n.opType === 'Gemm' || n.opType === 'MatMul')
    .map((n) => n.name);
}

/** Quantize per the candidate's layer precisions (kept layers only, in order). */
export async function quantizeAs(model: Model, precisions: readonly UnitPrecision[], calib: Dataset): Promise<Model> {
  const nodes = computeNodes(model);
  if (nodes.length !== precisions.length)
    throw new Error(`candidate has ${precisions.length} layer precisions for ${nodes.length} compute nodes`);
  const floats = nodes.filter((_, i) => precisions[i] !== 'int8');
  const fp16 = precisions.some((p) => p === 'fp16');
  if (fp16 && precisions.some((p) => p === 'fp32'))
    throw new EdgefleetError(
      'EF_ERR_SEARCH_OPTIONS',
      'fp16 and fp32 layers in one model are not built (the fp16 pass converts the whole model)',
      {},
    );
  const out = loadModel(writeModel(model));
  const steps = [
    ...(floats.length < nodes.length ? (PRESETS['int8-static']?.steps ?? []) : []),
    ...(fp16 ? [{ pass: 'fp16' as const }] : []),
  ];
  if (steps.length === 0) return out;
  const result = await runPipeline(out, steps.map(passFor), {
    exclude: { nodes: floats, opTypes: [] },
    calibration: createOrtCalibrationRunner(calib),
  });
  if (!result.ok)
    throw new EdgefleetError(
      'EF_ERR_COMPRESS_FAILED',
      `quantizing the candidate failed: ${result.issues.join('; ')}`,
      {},
    );
  return out;
}

/** Create the builder. */
export function createCandidateBuilder(opts: BuilderOptions): CandidateBuilder {
  const searchTrain = opts.searchSamples === undefined ? opts.train : sliceDataset(opts.train, 0, opts.searchSamples);
  // A finalist whose full budget equals the search's (e.g. no training at all) is not built twice.
  const sameStages =
    (opts.searchEpochs ?? 1) === 0 && (opts.finalEpochs ?? 8) === 0 && searchTrain.count === opts.train.count;
  const built = new Map<string, BuiltCandidate>();
  const refits = createRefitCache();
  return {
    async build(c: Candidate, stage, limit): Promise<BuiltCandidate> {
      const key =
        `${sameStages ? 'any' : stage}|${c.family}|${c.studentSpec}|${JSON.stringify(c.pruneRatios)}|` +
        `${c.downsample.join()}|${c.precisions.join()}`;
      const known = built.get(key);
      if (known) return known;
      const result = await buildCandidate(c, stage, opts, searchTrain, refits, limit);
      if (sameStages && result.cut === undefined) built.set(key, result);
      return result;
    },
  };
}

/**
 * The signal training runs under: the caller's, and the build's time limit, which training checks
 * after every step (a step's callback aborts it once the limit has passed; the next step sees it).
 */
function trainingStop(opts: BuilderOptions, limit: BuildLimit | undefined) {
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const check = (): void => {
    if (limit?.expired() === true && !controller.signal.aborted) controller.abort();
  };
  return { signal, check, cut: () => controller.signal.aborted };
}

async function buildCandidate(
  c: Candidate,
  stage: 'search' | 'final',
  opts: BuilderOptions,
  searchTrain: Dataset,
  refit: ReturnType<typeof createRefitCache>,
  limit?: BuildLimit,
): Promise<BuiltCandidate> {
  const notes: string[] = [];
  const start =
    c.family === 'pruned' ? await refit(c, opts, notes) : buildStudent(opts.teacher, c.studentSpec, opts.seed).model;
  const stop = trainingStop(opts, limit);
  const data = stage === 'final' ? opts.train : searchTrain;
  const { model: trained, cut } = await distilled(start, c, stage, { ...opts, signal: stop.signal }, data, notes, stop);
  let model = await quantizeAs(trained, c.precisions.slice(0, computeNodes(trained).length), opts.calib);
  let accuracyPct = await top1Pct(model, opts.validation);
  if (stage === 'final' && c.precisions.includes('int8')) {
    const floatPct = await top1Pct(trained, opts.validation);
    notes.push(`float ${floatPct.toFixed(2)}%, post-training int8 ${accuracyPct.toFixed(2)}%`);
    const wantsQat = floatPct - accuracyPct > (opts.qatThresholdPts ?? 0.3) && c.precisions.every((p) => p === 'int8');
    stop.check();
    if (wantsQat && stop.cut()) notes.push('QAT skipped: the time limit had passed');
    else if (wantsQat) {
      const qat = await quantizationAware(trained, c, stage, { ...opts, signal: stop.signal }, stop.check);
      if (qat === null) notes.push('QAT cut by the time limit: kept post-training int8');
      else {
        notes.push(`QAT ${qat.pct.toFixed(2)}%`);
        if (qat.pct > accuracyPct) {
          model = qat.model;
          accuracyPct = qat.pct;
        }
      }
    }
  }
  return { model, accuracyPct, notes, ...(cut ? { cut } : {}) };
}

/** QAT of the float model and its top-1; null when the time limit stopped it (the PTQ model stands). */
async function quantizationAware(
  trained: Model,
  c: Candidate,
  stage: 'search' | 'final',
  opts: BuilderOptions,
  check: () => void,
): Promise<{ model: Model; pct: number } | null> {
  const epochs = opts.qatEpochs ?? 2;
  try {
    const qat = await trainModel(trained, {
      seed: opts.seed + 1,
      data: opts.train,
      teacher: opts.teacher,
      epochs: 0,
      qat: { epochs, calib: opts.calib },
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (p) => {
        opts.onTrain?.(progressOf(p, stage, c.family, epochs));
        check();
      },
    });
    return { model: qat.model, pct: await top1Pct(qat.model, opts.validation) };
  } catch (err: unknown) {
    if (err instanceof EdgefleetError && err.code === 'EF_ERR_TRAIN_STOPPED') return null;
    throw err;
  }
}

/**
 * The float model after the stage's distillation: a student from its seeded init; a pruned teacher
 * fine-tuned at a tenth of the learning rate, kept only when that helps on validation.
 */
async function distilled(
  start: Model,
  c: Candidate,
  stage: 'search' | 'final',
  opts: BuilderOptions,
  data: Dataset,
  notes: string[],
  stop: { check: () => void; cut: () => boolean },
): Promise<{ model: Model; cut?: string }> {
  const epochs = stage === 'final' ? (opts.finalEpochs ?? 8) : (opts.searchEpochs ?? 1);
  if (epochs <= 0) return { model: start };
  // The proxy keeps a pruned teacher near its refit (a tenth of the rate); a finalist's longer cosine run needs the
  // full rate to recover what pruning and folding changed (mnist-cnn, 8 epochs: 95.65% at 1e-4, 96.90% at 1e-3).
  const lr = (opts.learningRate ?? 0.001) * (c.family === 'pruned' && stage === 'search' ? 0.1 : 1);
  stop.check();
  const run = await trainModel(start, {
    seed: opts.seed,
    data,
    teacher: opts.teacher,
    epochs,
    learningRate: lr,
    schedule: 'cosine',
    ...(stage === 'final' && opts.finalAugment !== false ? { augment: FINAL_AUGMENT } : {}),
    ...(opts.signal ? { signal: opts.signal, keepStopped: true } : {}),
    onProgress: (p) => {
      opts.onTrain?.(progressOf(p, stage, c.family, epochs));
      stop.check();
    },
  });
  const trained = run.float;
  const s = run.report.stopped;
  // Stopped by the caller's own signal (e.g. Ctrl-C), not by the time limit: nothing is kept.
  if (s && !stop.cut())
    throw new EdgefleetError('EF_ERR_TRAIN_STOPPED', `training was stopped after ${s.steps} step(s)`, { ...s });
  const cut = s
    ? `training cut by the time limit after ${s.steps} step(s) (${s.epochs} of ${epochs} epoch(s) complete)`
    : undefined;
  notes.push(
    cut
      ? `${stage}: ${cut}, on ${data.count} samples at learning rate ${lr}`
      : `${stage}: distilled ${epochs} epoch(s) on ${data.count} samples at learning rate ${lr}`,
  );
  if (c.family === 'student') return { model: trained, ...(cut ? { cut } : {}) };
  const [before, after] = [await top1Pct(start, opts.validation), await top1Pct(trained, opts.validation)];
  if (after >= before) return { model: trained, ...(cut ? { cut } : {}) };
  notes.push(`fine-tuning lost ${(before - after).toFixed(2)} points on validation: kept the refit weights`);
  return { model: start, ...(cut ? { cut } : {}) };
}

function progressOf(
  p: Parameters<NonNullable<Parameters<typeof trainModel>[1]['onProgress']>>[0],
  stage: 'search' | 'final',
  family: Candidate['family'],
  epochs: number,
): BuildProgress {
  return p.kind === 'step'
    ? { stage, phase: p.phase, family, epoch: p.epoch, epochs, step: p.step, steps: p.steps }
    : { stage, phase: p.phase, family, epoch: p.epoch, epochs };
}
