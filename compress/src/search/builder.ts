import { EdgefleetError } from '@edgefleet/shared';
import { createOrtCalibrationRunner } from '../calibration/collect.js';
import { sliceDataset, type Dataset } from '../data/tensor.js';
import { accuracyOf } from '../eval/metrics.js';
import { collectOutput } from '../eval/run.js';
import { loadModel, writeModel, type Model } from '../ir/index.js';
import { runPipeline } from '../pipeline.js';
import { passFor, PRESETS } from '../recipes.js';
import { pruneStructured } from '../prune/structured.js';
import { createOrtSession } from '../runtime/ort.js';
import { trainModel } from '../train/distill.js';
import { buildStudent } from '../train/student-spec.js';
import { foldPoolsIntoStrides } from './fold-pools.js';
import type { BuiltCandidate, CandidateBuilder } from './search-model.js';
import type { Candidate } from './space.js';
import type { UnitPrecision } from './latency/units.js';

/**
 * The real candidate builder: a pruned teacher inherits its weights (structured prune to the
 * candidate's per-layer ratios + least-squares reconstruction, issue 14), a student is built to
 * the candidate's shape (issue 15); either then gets a short distillation from the teacher
 * (the finalist a full one), and is quantized per layer (int8-static with the float layers
 * excluded; fp16 as a whole-model pass when every float layer is fp16). The finalist gets QAT
 * when post-training quantization loses more than `qatThresholdPts` against its float model.
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
  /** QAT epochs of the finalist when PTQ loses too much; default 2. */
  readonly qatEpochs?: number;
  /** Points PTQ may lose before the finalist gets QAT; default 0.3. */
  readonly qatThresholdPts?: number;
  /** Training samples per search epoch (a subset keeps candidates cheap); default all. */
  readonly searchSamples?: number;
  readonly signal?: AbortSignal;
}

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
  return {
    async build(c: Candidate, stage): Promise<BuiltCandidate> {
      const notes: string[] = [];
      const start =
        c.family === 'pruned'
          ? await pruned(c, opts, notes)
          : buildStudent(opts.teacher, c.studentSpec, opts.seed).model;
      const epochs = stage === 'final' ? (opts.finalEpochs ?? 8) : (opts.searchEpochs ?? 1);
      const trained =
        epochs > 0
          ? (
              await trainModel(start, {
                seed: opts.seed,
                data: stage === 'final' ? opts.train : searchTrain,
                teacher: opts.teacher,
                epochs,
                schedule: 'cosine',
                ...(opts.signal ? { signal: opts.signal } : {}),
              })
            ).float
          : start;
      let model = await quantizeAs(trained, c.precisions.slice(0, computeNodes(trained).length), opts.calib);
      let accuracyPct = await top1Pct(model, opts.validation);
      if (stage === 'final' && c.precisions.includes('int8')) {
        const floatPct = await top1Pct(trained, opts.validation);
        notes.push(`float ${floatPct.toFixed(2)}%, post-training int8 ${accuracyPct.toFixed(2)}%`);
        if (floatPct - accuracyPct > (opts.qatThresholdPts ?? 0.3) && c.precisions.every((p) => p === 'int8')) {
          const qat = await trainModel(trained, {
            seed: opts.seed + 1,
            data: opts.train,
            teacher: opts.teacher,
            epochs: 0,
            qat: { epochs: opts.qatEpochs ?? 2, calib: opts.calib },
          });
          const qatPct = await top1Pct(qat.model, opts.validation);
          notes.push(`QAT ${qatPct.toFixed(2)}%`);
          if (qatPct > accuracyPct) {
            model = qat.model;
            accuracyPct = qatPct;
          }
        }
      }
      return { model, accuracyPct, notes };
    },
  };
}

/** The teacher pruned to the candidate's widths (with reconstruction), its chosen pools folded into strides. */
async function pruned(c: Candidate, opts: BuilderOptions, notes: string[]): Promise<Model> {
  let model = loadModel(writeModel(opts.teacher));
  if (Object.keys(c.pruneRatios).length > 0) {
    model = (await pruneStructured(opts.teacher, { ratios: c.pruneRatios, data: opts.calib, reconstruct: true })).model;
    notes.push(`pruned ${Object.keys(c.pruneRatios).length} layer group(s) with reconstruction`);
  }
  const folded = foldPoolsIntoStrides(model, c.downsample);
  if (folded > 0) notes.push(`${folded} pool(s) folded into strided convolutions`);
  return model;
}
