/**
 * `int8-dynamic`: MatMul and Gemm with constant weights become onnxruntime's
 * `com.microsoft.DynamicQuantizeMatMul` [ORT:DynamicQuantizeMatMul]: weights stored int8,
 * symmetric per output column (b_scale [N]), activations quantized to uint8 per tensor at run
 * time, bias added in float. Conv stays float: ConvInteger runs on the CPU EP but is not
 * optimized in MLAS (ORT #12854) and needs a float rescale chain around it, so it is slower than
 * float Conv; the report lists every Conv with that reason.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import { quantizePerChannelInt8 } from '../quant/int8.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { allGraphs } from '../ir/scopes.js';
import {
  biasVectorName,
  dropUnusedInitializersDeep,
  ensureMsDomain,
  exclusionReason,
  linearWeight,
  mkTensor,
  quantizedOpsIn,
  transpose2d,
} from './util.js';

const CONV_REASON =
  'Conv stays float: ConvInteger is not optimized on CPU (ORT #12854); use int8-static for convolutions';

/** Create the pass. */
export function createInt8DynamicPass(): Pass {
  return { name: 'int8-dynamic', run: runInt8Dynamic };
}

async function runInt8Dynamic(root: Graph, ctx: PassContext): Promise<PassReport> {
  const already = quantizedOpsIn(root);
  if (already.length > 0)
    return refused(
      'int8-dynamic',
      `model is already quantized (${already.join(', ')}); quantize the float original instead`,
    );
  const changed: NodeNote[] = [];
  const skipped: NodeNote[] = [];
  const plan: Array<{ graph: Graph; node: Node; info: Exclude<ReturnType<typeof linearWeight>, string> }> = [];
  // Every graph of the tree: MatMul/Gemm inside If branches and Loop/Scan bodies are quantized too.
  for (const { graph, label } of allGraphs(root)) {
    const where = label === '' ? '' : ` (inside ${label})`;
    for (const node of graph.nodes) planNode(graph, node, where);
  }
  function planNode(graph: Graph, node: Node, where: string): void {
    if (node.opType === 'Conv')
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision: 'fp32',
        reason: `${exclusionReason(node, ctx.exclude) ?? CONV_REASON}${where}`,
      });
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return;
    const ex = exclusionReason(node, ctx.exclude);
    const info = linearWeight(graph, node);
    if (ex !== undefined || typeof info === 'string') {
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision: 'fp32',
        reason: `${ex ?? (typeof info === 'string' ? info : 'excluded')}${where}`,
      });
      return;
    }
    plan.push({ graph, node, info });
  }
  if (plan.length === 0)
    return {
      pass: 'int8-dynamic',
      ok: true,
      summary: 'no MatMul/Gemm with a constant 2-D weight to quantize',
      changed,
      skipped,
      stats: { quantized: 0 },
    };
  ensureMsDomain(ctx.model);
  let weightBytes = 0;
  for (const { graph, node, info } of plan) {
    // DynamicQuantizeMatMul takes B as [K, N]; a Gemm with transB stores [N, K].
    const kn = info.transB ? transpose2d(info.b.data, info.N, info.K) : info.b.data;
    const q = quantizePerChannelInt8(kn, [info.K, info.N], 1);
    const wName = graph.freshName(`${info.b.name}_int8`);
    const sName = graph.freshName(`${info.b.name}_scale`);
    graph.addInitializer(mkTensor(wName, 'int8', [info.K, info.N], q.q));
    graph.addInitializer(mkTensor(sName, 'float32', [info.N], q.scales));
    weightBytes += q.q.length;
    const inputs = [node.inputs[0] ?? '', wName, sName];
    if (info.bias) inputs.push('', biasVectorName(graph, info.bias));
    graph.replaceNode(node, {
      opType: 'DynamicQuantizeMatMul',
      domain: 'com.microsoft',
      name: node.name,
      inputs,
      outputs: [...node.outputs],
    });
    changed.push({
      node: node.name,
      opType: node.opType,
      precision: 'int8',
      reason: `int8 weights per output column (${info.N} scales), uint8 activations at run time`,
    });
  }
  const dropped = dropUnusedInitializersDeep(root);
  return {
    pass: 'int8-dynamic',
    ok: true,
    summary: `${changed.length} MatMul/Gemm → DynamicQuantizeMatMul; ${skipped.length} node(s) left in float`,
    changed,
    skipped,
    stats: { quantized: changed.length, int8WeightBytes: weightBytes, initializersDropped: dropped },
  };
}
