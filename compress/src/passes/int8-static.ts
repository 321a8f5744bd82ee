/**
 * `int8-static`: QDQ quantization with calibration. Conv, MatMul and Gemm with constant weights
 * get int8 per-channel weights and int32 biases through DequantizeLinear, and per-tensor uint8
 * (or int8) Q→DQ on their activation input and output, calibrated on sample data with min-max,
 * percentile or entropy. A Relu that is the only reader of a quantized output is removed: the
 * output's range starts at 0 and its zero point is qmin, so saturation in QuantizeLinear does
 * exactly what the Relu did (as onnxruntime's own QDQ quantizer does). Pass-through ops between
 * quantized layers share their producer's parameters (static-plan.ts). The result is the layout
 * onnxruntime fuses into QLinearConv / QGemm (checked in test/integration/compress-fusion.test.ts).
 */
import type { Graph } from '../ir/graph.js';
import { activationQParams, type QParams } from '../quant/int8.js';
import { applyStatic, planStatic } from './static-plan.js';
import type { Exclusions, NodeNote, PassContext, PassReport, Pass } from './types.js';
import { refused } from './types.js';
import { dropUnusedInitializers, opsetOf, quantizedOpsIn, subgraphNotes } from './util.js';
import type { Model } from '../ir/types.js';
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import { findFallback } from './sensitivity.js';
import { correctBiases, createFloatMeans } from './static-bias.js';
import { createRangeSource, describeChoice, type RangeMethod, type RangeSource } from './static-ranges.js';
import { stripUndefined } from '@edgefleet/shared';

/** Default of {@link Int8StaticOptions.maxRelativeError}. */
export const DEFAULT_MAX_RELATIVE_ERROR = 0.075;

/** Why layers inside If/Loop/Scan bodies stay float under int8-static. */
const SUBGRAPH_REASON =
  'left in float: int8-static calibrates activations by exposing them as model outputs, which a value inside a ' +
  'subgraph cannot be; int8-weights, int8-dynamic and int4-weights quantize these weights';

/** Options of the static pass. */
export interface Int8StaticOptions {
  /**
   * Calibration method; default `auto`: per activation tensor, whichever of minmax, percentile and
   * entropy quantizes that tensor's calibration values with the smallest error (static-ranges.ts).
   */
  readonly method?: RangeMethod;
  /** Percentile for `percentile`; default 99.99. */
  readonly percentile?: number;
  /** Activation type; default uint8 (U8S8, the MLAS fast path on x86 and ARM). */
  readonly activationType?: 'uint8' | 'int8';
  /**
   * Sensitivity fallback goal: the minimum cosine of each float output to the float model's on
   * the calibration data; layers are reverted to float until it holds. Default 0.997: the goal is
   * checked on calibration data, so it keeps a margin over the 0.99 expected on unseen inputs
   * (PaddleOCR det, 8 calibration pages: a goal of 0.995 gave 0.989–0.991 on other pages, 0.997
   * gives 0.994). 0 disables.
   */
  readonly fidelity?: number;
  /** Most quantize+compare rounds of the fallback; default 12. */
  readonly maxRounds?: number;
  /**
   * Sensitivity fallback goal on scale: the largest relative error ‖y − ŷ‖/‖y‖ of each float output
   * over the calibration data; default 0.075 (about what cosine 0.997 allows). Cosine alone misses
   * scale errors (a one-number output).
   */
  readonly maxRelativeError?: number;
  /**
   * Keep layers that write a graph output float at their output (default false: they are quantized
   * with a DequantizeLinear after them, as onnxruntime's quantizer does, so the layer fuses).
   */
  readonly floatOutputs?: boolean;
  /**
   * Also try bias correction per layer before the fallback reverts anything: a layer keeps its
   * correction when it lowers the error the layer adds by a fifth. Needs the fallback (fidelity > 0).
   * Default false: on PP-OCRv4 det it made held-out fidelity worse (8 calibration pages: size 0.47,
   * cosine 0.986 with it; 0.33, 0.995 without), the per-channel means of a few pages do not carry over.
   */
  readonly biasCorrection?: boolean;
}

/** Create the pass. */
export function createInt8StaticPass(opts: Int8StaticOptions = {}): Pass {
  return { name: 'int8-static', run: (g, ctx) => runStatic(g, ctx, opts) };
}

/** Result of quantizing one graph in place. */
export interface StaticOutcome {
  readonly changed: NodeNote[];
  readonly skipped: NodeNote[];
  readonly tensors: number;
  readonly reluRemoved: number;
  readonly dropped: number;
}

/**
 * Quantize `graph` (of `model`) in place with `exclude` kept in float. Calibration always runs
 * on the float `model` as it is before this call.
 */
export async function quantizeStatic(
  model: Model,
  graph: Graph,
  exclude: Exclusions,
  ranges: RangeSource,
  opts: Int8StaticOptions,
): Promise<StaticOutcome | string> {
  const plan = planStatic(graph, exclude, opts.floatOutputs ?? false);
  if (plan.targets.length === 0) return { changed: [], skipped: plan.skipped, tensors: 0, reluRemoved: 0, dropped: 0 };
  const chosen = await ranges.choose(model, plan.calibrate);
  if (typeof chosen === 'string') return chosen;
  const type = opts.activationType ?? 'uint8';
  const params = new Map<string, QParams>();
  for (const [name, c] of chosen) params.set(name, activationQParams(c.range.min, c.range.max, { type }));
  const changed = applyStatic(graph, plan, params, (t) => describeChoice(chosen.get(t)));
  graph.topoSort();
  const dropped = dropUnusedInitializers(graph);
  const reluRemoved = plan.targets.filter((t) => t.relu && t.out).length;
  return { changed, skipped: plan.skipped, tensors: plan.calibrate.length + plan.shared.size, reluRemoved, dropped };
}

async function runStatic(graph: Graph, ctx: PassContext, opts: Int8StaticOptions): Promise<PassReport> {
  const already = quantizedOpsIn(graph);
  if (already.length > 0)
    return refused(
      'int8-static',
      `model is already quantized (${already.join(', ')}); quantize the float original instead`,
    );
  const opset = opsetOf(ctx.model, '') ?? 0;
  if (opset < 13)
    return refused(
      'int8-static',
      `per-channel QDQ needs ai.onnx opset ≥ 13, the model has ${opset}; put opset-upgrade before int8-static`,
    );
  if (!ctx.calibration)
    return refused(
      'int8-static',
      'static quantization needs calibration data (--calib mnist:256, a sample directory or random:N)',
    );
  const goal = opts.fidelity ?? 0.997;
  const ranges = createRangeSource(ctx.calibration, {
    method: opts.method ?? 'auto',
    activationType: opts.activationType ?? 'uint8',
    ...stripUndefined({ percentile: opts.percentile }),
  });
  const float = loadModel(writeModel(ctx.model));
  const fb =
    goal > 0
      ? await findFallback(float, ctx.exclude, ctx.calibration, ranges, opts, {
          goal,
          ...stripUndefined({ maxRounds: opts.maxRounds }),
          maxRelativeError: opts.maxRelativeError ?? DEFAULT_MAX_RELATIVE_ERROR,
        })
      : undefined;
  if (typeof fb === 'string') return refused('int8-static', fb);
  const exclude = { nodes: [...ctx.exclude.nodes, ...(fb?.reverted.keys() ?? [])], opTypes: ctx.exclude.opTypes };
  const r = await quantizeStatic(ctx.model, graph, exclude, ranges, opts);
  if (typeof r === 'string') return refused('int8-static', r);
  const corrected =
    fb && fb.corrected.size > 0
      ? await correctBiases(float, ctx.model, fb.corrected, ctx.calibration, createFloatMeans(float, ctx.calibration))
      : new Map<string, string>();
  const changed = r.changed.map((n) => {
    const how = corrected.get(n.node);
    return how ? { ...n, reason: `${n.reason}; ${how}` } : n;
  });
  if (corrected.size > 0) dropUnusedInitializers(graph);
  const inner = subgraphNotes(graph, ['Conv', 'MatMul', 'Gemm', 'ConvTranspose'], SUBGRAPH_REASON);
  const skipped = [...r.skipped.map((n) => ({ ...n, reason: fb?.reverted.get(n.node) ?? n.reason })), ...inner];
  const innerSummary = inner.length > 0 ? `; ${inner.length} layer(s) inside subgraphs left in float` : '';
  const maxRelativeError = opts.maxRelativeError ?? DEFAULT_MAX_RELATIVE_ERROR;
  const fallback = fb
    ? `; fallback: ${fb.reverted.size} layer(s) reverted in ${fb.rounds} round(s), output cosine ` +
      `${fb.outputCosine.toFixed(4)} and relative error ${fb.outputRelativeError.toFixed(4)} on ` +
      `${ctx.calibration.samples} calibration samples` +
      `${fb.met ? '' : ` (goal cosine ≥ ${goal}, relative error ≤ ${maxRelativeError} NOT met)`}`
    : '';
  const calibrationText =
    opts.method === undefined || opts.method === 'auto'
      ? 'per-tensor choice of minmax/percentile/entropy'
      : opts.method;
  const biasText = corrected.size > 0 ? `; ${corrected.size} bias(es) corrected` : '';
  if (r.changed.length === 0)
    return {
      pass: 'int8-static',
      ok: true,
      summary: `no Conv/MatMul/Gemm quantized${innerSummary}${fallback}`,
      changed: [],
      skipped,
      stats: { quantized: 0 },
    };
  return {
    pass: 'int8-static',
    ok: true,
    summary:
      `${r.changed.length} node(s) → int8 QDQ ` +
      `(${calibrationText} calibration, ${opts.activationType ?? 'uint8'} activations, ${r.tensors} tensors); ` +
      `${skipped.length} left in float${innerSummary}${biasText}${fallback}`,
    changed,
    skipped,
    stats: {
      quantized: r.changed.length,
      biasCorrected: corrected.size,
      activationTensors: r.tensors,
      reluRemoved: r.reluRemoved,
      initializersDropped: r.dropped,
      ...(fb
        ? {
            fallbackReverted: fb.reverted.size,
            fallbackRounds: fb.rounds,
            fallbackOutputCosine: fb.outputCosine,
            fallbackOutputRelativeError: fb.outputRelativeError,
          }
        : {}),
    },
  };
}
