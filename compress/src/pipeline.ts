/**
 * The pass manager: runs a list of passes over one model, verifies the graph after every pass
 * (verifyGraph), and returns `{ok, reports, issues}` [STYLE 5: partial failures are values]. A
 * pass whose preconditions fail leaves the graph untouched and stops the pipeline (a later pass
 * would otherwise run on a model that is not what the recipe promised). A pass that breaks the
 * graph is a bug: the pipeline stops and reports the verifier's problems. When a pass asks for a
 * float reference (bias-correction), the pipeline snapshots the model before each pass while it
 * is still unquantized, so that pass sees exactly the float model the quantizer started from.
 */
import { loadModel } from './ir/decode.js';
import { writeModel } from './ir/encode.js';
import { verifyGraph } from './ir/verify.js';
import type { Model } from './ir/types.js';
import type { Dataset } from './data/tensor.js';
import { quantizedOpsIn } from './passes/util.js';
import type { Exclusions, Pass, PassContext, PassReport, CalibrationRunner, Progress } from './passes/types.js';

/** Result of a pipeline run. */
export interface PipelineResult {
  readonly ok: boolean;
  readonly reports: PassReport[];
  /** Problems that stopped the pipeline, in words. */
  readonly issues: string[];
}

/** Options for {@link runPipeline}. */
export interface PipelineOptions {
  readonly exclude?: Exclusions;
  readonly calibration?: CalibrationRunner;
  readonly onProgress?: (p: Progress) => void;
  /** Samples for the training passes (finetune, qat). */
  readonly trainData?: Dataset;
  /** Calibration samples for passes that probe the model themselves (pruning, reconstruction). */
  readonly calibData?: Dataset;
}

/** Run `passes` in order over `model` (mutated in place). */
export async function runPipeline(
  model: Model,
  passes: readonly Pass[],
  opts: PipelineOptions = {},
): Promise<PipelineResult> {
  const reports: PassReport[] = [];
  const issues: string[] = [];
  const base: PassContext = {
    model,
    exclude: opts.exclude ?? { nodes: [], opTypes: [] },
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.trainData ? { trainData: opts.trainData } : {}),
    // A teacher for passes that train: the model before any pass changed it.
    ...(passes.some((p) => p.needsInputModel === true) ? { input: loadModel(writeModel(model)) } : {}),
    ...(opts.calibData ? { calibData: opts.calibData } : {}),
    handoff: new Map<string, unknown>(),
  };
  const wantsReference = passes.some((p) => p.needsFloatReference === true);
  let original: Model | undefined;
  for (const pass of passes) {
    // Snapshot while the graph is still float, so a later pass sees the model its quantizer saw.
    if (wantsReference && quantizedOpsIn(model.graph).length === 0) original = loadModel(writeModel(model));
    const ctx: PassContext = original && pass.needsFloatReference ? { ...base, original } : base;
    opts.onProgress?.({ pass: pass.name, done: 0, total: 1, what: 'running' });
    const report = await pass.run(model.graph, ctx);
    reports.push(report);
    if (!report.ok) {
      issues.push(`${pass.name}: ${report.summary}`);
      break;
    }
    const v = verifyGraph(model.graph);
    if (!v.ok) {
      issues.push(`${pass.name} produced an invalid graph: ${v.problems.slice(0, 5).join('; ')}`);
      break;
    }
    opts.onProgress?.({ pass: pass.name, done: 1, total: 1, what: report.summary });
  }
  return { ok: issues.length === 0, reports, issues };
}
