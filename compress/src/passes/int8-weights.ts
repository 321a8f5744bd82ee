/**
 * `int8-weights`: weight-only int8. Conv, MatMul and Gemm constant weights are stored as int8
 * symmetric per output channel and read through a per-axis DequantizeLinear (opset ≥ 13);
 * activations and compute stay float. Shrinks the file about 4× with no calibration, but it is
 * SLOWER than fp32 in onnxruntime: the DequantizeLinear on each weight runs on every inference
 * (onnxruntime does not constant-fold it, so QDQ fusion can still see it), 0.1–0.7× fp32 speed
 * measured here. Use it for transfer and storage size, not for latency. Weights inside If branches
 * and Loop/Scan bodies are quantized too.
 */
import type { Graph } from '../ir/graph.js';
import { outputChannelAxis } from '../quant/int8.js';
import { quantizeWeightInput } from './qdq.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { allGraphs, type ScopedGraph } from '../ir/scopes.js';
import { dropUnusedInitializersDeep, exclusionReason, floatInit, intAttr, opsetOf, quantizedOpsIn } from './util.js';

/** Create the pass. */
export function createInt8WeightsPass(): Pass {
  return { name: 'int8-weights', run: runWeights };
}

async function runWeights(root: Graph, ctx: PassContext): Promise<PassReport> {
  const already = quantizedOpsIn(root);
  if (already.length > 0) return refused('int8-weights', `model is already quantized (${already.join(', ')})`);
  const opset = opsetOf(ctx.model, '') ?? 0;
  if (opset < 13)
    return refused(
      'int8-weights',
      `per-channel DequantizeLinear needs opset ≥ 13, the model has ${opset}; put opset-upgrade first`,
    );
  const changed: NodeNote[] = [];
  const skipped: NodeNote[] = [];
  // Every graph of the tree: weights inside If branches and Loop/Scan bodies are quantized too.
  for (const scoped of allGraphs(root)) quantizeGraph(scoped, ctx, changed, skipped);
  const dropped = dropUnusedInitializersDeep(root);
  return {
    pass: 'int8-weights',
    ok: true,
    summary: `${changed.length} weight(s) → int8; ${skipped.length} left in float`,
    changed,
    skipped,
    stats: { quantized: changed.length, initializersDropped: dropped },
  };
}

function quantizeGraph(scoped: ScopedGraph, ctx: PassContext, changed: NodeNote[], skipped: NodeNote[]): void {
  const { graph, label } = scoped;
  const where = label === '' ? '' : ` (inside ${label})`;
  for (const node of [...graph.nodes]) {
    if (!['Conv', 'MatMul', 'Gemm'].includes(node.opType)) continue;
    const w = floatInit(graph, node.inputs[1]);
    const why =
      exclusionReason(node, ctx.exclude) ??
      (!w
        ? 'weight is not a float32 initializer'
        : node.opType !== 'Conv' && w.dims.length !== 2
          ? 'weight is not 2-D'
          : undefined);
    if (why !== undefined || !w) {
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision: 'fp32',
        reason: `${why ?? 'no weight'}${where}`,
      });
      continue;
    }
    const use =
      node.opType === 'Conv'
        ? { op: 'Conv' as const }
        : node.opType === 'Gemm'
          ? { op: 'Gemm' as const, transB: intAttr(node, 'transB', 0) === 1 }
          : { op: 'MatMul' as const };
    const axis = outputChannelAxis(use, w.dims.length);
    quantizeWeightInput(graph, node, 1, w, axis);
    changed.push({
      node: node.name,
      opType: node.opType,
      precision: 'int8-weights',
      reason: `int8 per-channel weights (axis ${axis}) through DequantizeLinear, float compute${where}`,
    });
  }
}
