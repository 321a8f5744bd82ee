/**
 * `int8-static`: QDQ quantization with calibration. Conv, MatMul and Gemm with constant weights
 * get int8 per-channel weights and int32 biases through DequantizeLinear, and per-tensor uint8
 * (or int8) Q→DQ on their activation input and output, calibrated on sample data with min-max,
 * percentile or entropy. A Relu that is the only reader of a quantized output is removed: the
 * output's range starts at 0 and its zero point is qmin, so saturation in QuantizeLinear does
 * exactly what the Relu did (as onnxruntime's own QDQ quantizer does). The result is the layout
 * onnxruntime fuses into QLinearConv / QLinearMatMul / QGemm.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import type { CalibrationMethod } from '../quant/calibrators.js';
import { activationQParams, outputChannelAxis, type QParams } from '../quant/int8.js';
import { insertActivationQdq, quantizeBiasInput, quantizeWeightInput } from './qdq.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { dropUnusedInitializers, exclusionReason, floatInit, intAttr, linearWeight, opsetOf, quantizedOpsIn } from './util.js';

/** Options of the static pass. */
export interface Int8StaticOptions {
  /** Calibration method; default `minmax`... unless set, `percentile` for robustness to outliers. */
  readonly method?: CalibrationMethod;
  /** Percentile for `percentile`; default 99.99. */
  readonly percentile?: number;
  /** Activation type; default uint8 (U8S8, the MLAS fast path on x86 and ARM). */
  readonly activationType?: 'uint8' | 'int8';
}

interface Target {
  readonly node: Node;
  /** Output tensor to quantize (after a removable Relu), or undefined when the output stays float. */
  readonly out: string | undefined;
  readonly relu: Node | undefined;
}

/** Create the pass. */
export function createInt8StaticPass(opts: Int8StaticOptions = {}): Pass {
  return { name: 'int8-static', run: (g, ctx) => runStatic(g, ctx, opts) };
}

function weightProblem(graph: Graph, node: Node): string | undefined {
  if (node.opType === 'Conv') {
    const w = floatInit(graph, node.inputs[1]);
    if (!w) return 'Conv weight is not a float32 initializer';
    if (node.inputs[2] && !floatInit(graph, node.inputs[2])) return 'Conv bias is not a float32 initializer';
    return undefined;
  }
  const info = linearWeight(graph, node);
  return typeof info === 'string' ? info : undefined;
}

function selectTargets(graph: Graph, ctx: PassContext, skipped: NodeNote[]): Target[] {
  const targets: Target[] = [];
  for (const node of graph.nodes) {
    if (!['Conv', 'MatMul', 'Gemm'].includes(node.opType)) {
      if (node.opType === 'ConvTranspose') skipped.push({ node: node.name, opType: node.opType, precision: 'fp32', reason: 'ConvTranspose is not quantized by this pass' });
      continue;
    }
    const why = exclusionReason(node, ctx.exclude) ?? weightProblem(graph, node);
    if (why !== undefined) {
      skipped.push({ node: node.name, opType: node.opType, precision: 'fp32', reason: why });
      continue;
    }
    const y = node.outputs[0] ?? '';
    const readers = graph.consumersOf(y);
    const relu = readers.length === 1 && readers[0]?.opType === 'Relu' && !graph.isGraphOutput(y) ? readers[0] : undefined;
    const out = relu ? relu.outputs[0] : y;
    // A graph output keeps float precision: the caller gets exactly what the model computed.
    targets.push({ node, relu, out: out !== undefined && !graph.isGraphOutput(out) ? out : undefined });
  }
  return targets;
}

async function runStatic(graph: Graph, ctx: PassContext, opts: Int8StaticOptions): Promise<PassReport> {
  const already = quantizedOpsIn(graph);
  if (already.length > 0) return refused('int8-static', `model is already quantized (${already.join(', ')}); quantize the float original instead`);
  const opset = opsetOf(ctx.model, '') ?? 0;
  if (opset < 13) return refused('int8-static', `per-channel QDQ needs ai.onnx opset ≥ 13, the model has ${opset}; put opset-upgrade before int8-static`);
  if (!ctx.calibration) return refused('int8-static', 'static quantization needs calibration data (--calib mnist:256, a sample directory or random:N)');
  const skipped: NodeNote[] = [];
  const targets = selectTargets(graph, ctx, skipped);
  if (targets.length === 0) return { pass: 'int8-static', ok: true, summary: 'no Conv/MatMul/Gemm to quantize', changed: [], skipped, stats: { quantized: 0 } };
  const tensors = new Set<string>();
  for (const t of targets) {
    tensors.add(t.node.inputs[0] ?? '');
    if (t.out !== undefined) tensors.add(t.out);
  }
  const method = opts.method ?? 'percentile';
  const ranges = await ctx.calibration.ranges(ctx.model, [...tensors], method, opts.percentile === undefined ? {} : { percentile: opts.percentile });
  const missing = [...tensors].filter((n) => !ranges.has(n));
  if (missing.length > 0) return refused('int8-static', `calibration produced no range for ${missing.slice(0, 5).join(', ')}; is the data the model's input?`);
  const type = opts.activationType ?? 'uint8';
  const params = new Map<string, QParams>();
  for (const [name, r] of ranges) params.set(name, activationQParams(r.min, r.max, { type }));
  const changed = applyTargets(graph, targets, params);
  for (const name of tensors) {
    const p = params.get(name);
    if (p) insertActivationQdq(graph, name, p);
  }
  graph.topoSort();
  const dropped = dropUnusedInitializers(graph);
  return {
    pass: 'int8-static', ok: true,
    summary: `${changed.length} node(s) → int8 QDQ (${method} calibration, ${type} activations, ${tensors.size} tensors); ${skipped.length} left in float`,
    changed, skipped, stats: { quantized: changed.length, activationTensors: tensors.size, reluRemoved: targets.filter((t) => t.relu && t.out).length, initializersDropped: dropped },
  };
}

function applyTargets(graph: Graph, targets: readonly Target[], params: Map<string, QParams>): NodeNote[] {
  const changed: NodeNote[] = [];
  for (const t of targets) {
    const { node } = t;
    const w = floatInit(graph, node.inputs[1]);
    const xp = params.get(node.inputs[0] ?? '');
    if (!w || !xp) continue;
    const transB = intAttr(node, 'transB', 0) === 1;
    const use = node.opType === 'Conv' ? { op: 'Conv' as const } : node.opType === 'Gemm' ? { op: 'Gemm' as const, transB } : { op: 'MatMul' as const };
    const axis = outputChannelAxis(use, w.dims.length);
    const wScales = quantizeWeightInput(graph, node, 1, w, axis);
    const b = floatInit(graph, node.inputs[2]);
    if (b && b.data.length === wScales.length) quantizeBiasInput(graph, node, 2, b, xp.scale, wScales);
    if (t.relu && t.out !== undefined) {
      // Fold the Relu into the output quantization: the node now writes the Relu's output name.
      const relu = t.relu;
      const y = node.outputs[0] ?? '';
      graph.removeNode(relu);
      graph.setNodeOutput(node, 0, relu.outputs[0] ?? y);
    }
    changed.push({ node: node.name, opType: node.opType, precision: 'int8', reason: `int8 per-channel weights (axis ${axis}), ${xp.type} activations${t.relu && t.out ? ', Relu folded into the output range' : ''}${t.out === undefined ? ', float output (graph output)' : ''}` });
  }
  return changed;
}
