/**
 * One variant build: compress the model with a recipe, store the artifact content-addressed,
 * evaluate it (accuracy or fidelity to the original, size, host latency, memory). Runs inside
 * a worker thread (variant-worker.ts) so onnxruntime and the passes never block the server's
 * event loop; the same function runs in-process for tools that want no worker.
 */
import { join } from 'node:path';
import { isEdgefleetError, asError, VARIANT_BUILD_STAGES } from '@edgefleet/shared';
import {
  compressModel,
  type CompressReport,
  evaluateModel,
  modelInputsOf,
  type EvalResult,
  loadModel,
  readModelBytes,
  sha256Hex,
  writeBytesAtomic,
  loadDataSource,
  measureLatencyAtBatch,
  type LatencyResult,
  type Recipe,
} from '@edgefleet/compress';
import type { VariantRow } from '../store/variants.js';

/** What a worker is asked to do (structured-clone safe). */
export interface VariantJob {
  /** Absolute path of the stored original model. */
  readonly modelPath: string;
  /** null: the baseline (the original bytes). */
  readonly recipe: Recipe | null;
  /** Evaluation data spec (mnist, a sample dir, random:N). */
  readonly evalSpec: string;
  /** Calibration data spec; only read when the recipe needs it. */
  readonly calibSpec: string;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  /** Absolute directory artifacts are written to as `<sha256>.onnx`. */
  readonly artifactDir: string;
  readonly warmupRuns: number;
  readonly timedRuns: number;
  readonly needsCalibration: boolean;
  /**
   * The variant row the build's outcome is stored as (the planner's key and description). A
   * queued job carries it so that whichever worker finishes the build stores the row, even when
   * the replica that asked for it died meanwhile. Absent: the caller stores the outcome.
   */
  readonly target?: VariantTarget;
}

/** Key and description of the variant row a build is stored as (see VariantRow in store/variants.ts). */
export interface VariantTarget {
  readonly modelSha: string;
  readonly recipeKey: string;
  readonly recipeName: string;
  /** The recipe as stored: a preset name, `baseline`, a recipe document, or a search finalist's source. */
  readonly recipe: VariantRow['recipe'];
  readonly precision: string;
  /** The artifact directory relative to the files directory (stored paths are relative to it). */
  readonly artifactDir: string;
}

/** The outcome of a build, success or a typed failure (a recipe that refuses the model is data, not a crash). */
export type VariantJobResult =
  | {
      readonly ok: true;
      readonly artifactSha: string;
      readonly bytes: number;
      readonly report: CompressReport | null;
      readonly evaluation: EvalResult;
      readonly compressed: boolean;
    }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly compressed: boolean };

/** Calibration spec that goes with an evaluation spec: MNIST's own calib split, else the same data. */
export function calibSpecFor(evalSpec: string): string {
  return evalSpec === 'mnist' || evalSpec.startsWith('mnist:') ? 'mnist:calib:256' : evalSpec;
}

/**
 * The steps of a build, in order; a build reports each as it starts. Progress through the API
 * is the share of steps started before the current one (coarse, but what is known: the steps
 * take very different times for different recipes, so a finer figure would be invented).
 */
export type VariantBuildStage = (typeof VARIANT_BUILD_STAGES)[number];

/** Share of a build done when `stage` starts (0 for the first step). */
export const stageFraction = (stage: VariantBuildStage): number =>
  VARIANT_BUILD_STAGES.indexOf(stage) / VARIANT_BUILD_STAGES.length;

/** Runs one build. Never throws for expected failures: they come back as `{ok: false}`. */
export async function runVariantJob(
  job: VariantJob,
  onStage: (stage: VariantBuildStage) => void = () => undefined,
): Promise<VariantJobResult> {
  let compressed = false;
  try {
    onStage('reading');
    const original = await readModelBytes(job.modelPath);
    let bytes = original;
    let report: CompressReport | null = null;
    if (job.recipe) {
      const calib = job.needsCalibration
        ? loadDataSource(job.calibSpec, modelInputsOf(loadModel(original)), {
            defaultSplit: 'calib',
            shapes: job.shapes,
          })
        : undefined;
      compressed = true;
      onStage('compressing');
      const out = await compressModel(original, job.recipe, calib ? { calib } : {});
      bytes = out.bytes;
      report = out.report;
    }
    const artifactSha = sha256Hex(bytes);
    const artifactPath = join(job.artifactDir, `${artifactSha}.onnx`);
    onStage('writing');
    await writeBytesAtomic(artifactPath, bytes);
    onStage('evaluating');
    const evaluation = await evaluateModel(artifactPath, {
      data: job.evalSpec,
      dataOptions: { shapes: job.shapes },
      warmupRuns: job.warmupRuns,
      timedRuns: job.timedRuns,
      ...(job.recipe ? { reference: job.modelPath } : {}),
    });
    return { ok: true, artifactSha, bytes: bytes.length, report, evaluation, compressed };
  } catch (err: unknown) {
    if (isEdgefleetError(err)) return { ok: false, code: err.code, message: err.message, compressed };
    const message = asError(err).message;
    return {
      ok: false,
      code: 'EF_ERR_PLAN_FAILED',
      message: `building the variant failed unexpectedly: ${message}`,
      compressed,
    };
  }
}

/** A timing of a built variant at another batch size (a class whose devices run batch > 1). */
export interface LatencyJob {
  readonly kind: 'latency';
  /** Absolute path of the variant's artifact. */
  readonly artifactPath: string;
  readonly evalSpec: string;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly batch: number;
  readonly warmupRuns: number;
  readonly timedRuns: number;
}

export type LatencyJobResult =
  | { readonly ok: true; readonly latency: LatencyResult }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Runs one timing. Never throws for expected failures. */
export async function runLatencyJob(job: LatencyJob): Promise<LatencyJobResult> {
  try {
    const latency = await measureLatencyAtBatch(job.artifactPath, {
      batch: job.batch,
      data: job.evalSpec,
      dataOptions: { shapes: job.shapes },
      warmupRuns: job.warmupRuns,
      timedRuns: job.timedRuns,
    });
    return { ok: true, latency };
  } catch (err: unknown) {
    if (isEdgefleetError(err)) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'EF_ERR_PLAN_FAILED', message: `timing the variant failed: ${asError(err).message}` };
  }
}
