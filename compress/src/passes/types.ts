/**
 * The contract every compression pass follows [DESIGN "Compression is a pass manager"]: a name and
 * `run(graph, ctx) → report`. A pass checks its preconditions before it changes anything, so a
 * failed precondition leaves the graph untouched; its report says what changed and why, and which
 * nodes stayed in float with the reason.
 */
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/types.js';
import type { CalibRange, CalibrationMethod } from '../quant/calibrators.js';
import type { Dataset } from '../data/tensor.js';
import type { PruneReport } from '../prune/report.js';
import type { TensorAgreement } from '../calibration/compare.js';

/** Nodes that must stay in float, by name or op type. */
export interface Exclusions {
  readonly nodes: readonly string[];
  readonly opTypes: readonly string[];
}

/** Progress of long work (calibration), for a TTY progress line. */
export interface Progress {
  readonly pass: string;
  readonly done: number;
  readonly total: number;
  readonly what: string;
}

/**
 * Runs the current float model on calibration data and returns observed statistics. Implemented
 * with onnxruntime in calibration/collect.ts; passes only see this interface.
 */
export interface CalibrationRunner {
  /** Calibrated ranges of the given float tensors (graph inputs or node outputs). */
  ranges(
    model: Model,
    tensors: readonly string[],
    method: CalibrationMethod,
    opts: { percentile?: number },
  ): Promise<Map<string, CalibRange>>;
  /** Ranges of the given tensors by several methods from one pass over the data (method → tensor → range). */
  rangesByMethod(
    model: Model,
    tensors: readonly string[],
    methods: readonly CalibrationMethod[],
    opts: { percentile?: number },
  ): Promise<Map<CalibrationMethod, Map<string, CalibRange>>>;
  /**
   * Per-channel mean of the given tensors over all samples; `axis` is the channel
   * axis (1 for NCHW; negative counts from the end, -1 for [N,C] or [N,T,C]).
   */
  channelMeans(
    model: Model,
    tensors: ReadonlyArray<{ name: string; axis: number }>,
  ): Promise<Map<string, Float64Array>>;
  /**
   * Cosine similarity and relative error of reference tensors to
   * candidate tensors over the data, keyed by reference name.
   */
  compare(
    reference: Model,
    candidate: Model,
    pairs: ReadonlyArray<{ reference: string; candidate: string }>,
  ): Promise<Map<string, TensorAgreement>>;
  /**
   * For each tensor, the relative error ‖x − fq(x)‖/‖x‖ of fake-quantizing it (per tensor, `type`
   * activations) over the data with each candidate range, in the order given: how well a
   * calibration method's range fits that tensor's real values.
   */
  rangeErrors(
    model: Model,
    candidates: ReadonlyMap<string, readonly CalibRange[]>,
    type: 'uint8' | 'int8',
  ): Promise<Map<string, number[]>>;
  /** Samples in the calibration data (the fallback refuses to judge fidelity on fewer than two). */
  readonly samples: number;
}

/** What a pass can read besides the graph. */
export interface PassContext {
  /** The model around the graph (opset imports are changed through it). */
  readonly model: Model;
  readonly exclude: Exclusions;
  /** Present when calibration data was given. */
  readonly calibration?: CalibrationRunner;
  readonly onProgress?: (p: Progress) => void;
  /**
   * The float model as it was just before the first pass that quantized it (the last state with
   * no quantized ops), so float and quantized layers share names and folded BatchNorms. Set only
   * for passes with `needsFloatReference`; bias-correction compares against it.
   */
  readonly original?: Model;
  /** Samples the training passes (finetune, qat) learn from: `compressModel`'s `train`, else its calibration data. */
  readonly trainData?: Dataset;
  /** The model as the pipeline received it, before any pass; set only for passes with `needsInputModel` (a teacher). */
  readonly input?: Model;
  /** The calibration samples themselves, for passes that run their own probes (pruning, reconstruction). */
  readonly calibData?: Dataset;
  /**
   * What a pass hands to later passes of the same pipeline run, by key (prune-structured leaves
   * the original model and the channels it kept for reconstruct). Created empty per run.
   */
  readonly handoff?: Map<string, unknown>;
}

/** One node the pass changed, or left alone, and why. */
export interface NodeNote {
  readonly node: string;
  readonly opType: string;
  /** Precision of the node's weights/compute after the pass, e.g. `int8`, `int4`, `fp16`, `fp32`. */
  readonly precision: string;
  readonly reason: string;
}

/** The report of one pass run. */
export interface PassReport {
  readonly pass: string;
  /** false when preconditions failed (the graph is untouched) or the pass errored. */
  readonly ok: boolean;
  /** Human summary: what the pass did, or why it did nothing. */
  readonly summary: string;
  readonly changed: NodeNote[];
  /** Nodes a pass would have handled but left in float, with the reason. */
  readonly skipped: NodeNote[];
  readonly stats: Record<string, number>;
  /** Pruning passes: per group and per layer, before and after (prune/report.ts). */
  readonly pruning?: PruneReport;
}

/** A compression pass. */
export interface Pass {
  readonly name: string;
  /**
   * The pipeline keeps a float snapshot for {@link PassContext.original} when
   * a pass says so (default false: the copy costs a serialization per pass).
   */
  readonly needsFloatReference?: boolean;
  /** The pipeline keeps a copy of its input model for {@link PassContext.input} when a pass says so (default false). */
  readonly needsInputModel?: boolean;
  run(graph: Graph, ctx: PassContext): Promise<PassReport>;
}

/** A report for a pass whose preconditions failed. */
export function refused(pass: string, why: string): PassReport {
  return { pass, ok: false, summary: why, changed: [], skipped: [], stats: {} };
}
