/**
 * `int4-weights`: MatMul and Gemm with constant weights become `com.microsoft.MatMulNBits`
 * (bits=4) [ORT:MatMulNBits]: block-wise round-to-nearest 4-bit weights along K, activations
 * stay float. A Gemm bias goes into MatMulNBits' optional bias input (input 5), which the CPU
 * kernel runs (checked in test/unit/quant-int4.test.ts). Conv is out of scope for MatMulNBits and
 * is reported as left in float.
 */
import type { Graph } from '../ir/graph.js';
import { isValidBlockSize, quantizeMatMulNBits4 } from '../quant/int4.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { refused } from './types.js';
import { allGraphs } from '../ir/scopes.js';
import {
  biasVectorName,
  dropUnusedInitializersDeep,
  ensureMsDomain,
  exclusionReason,
  linearWeight,
  mkIntAttr,
  mkTensor,
  quantizedOpsIn,
  transpose2d,
} from './util.js';

/** Options of the int4 pass. */
export interface Int4PassOptions {
  /**
   * Block size along K: 16, 32, 64 or 128; default 64. With float32 scales and packed zero points
   * a weight costs 4 + 32/B + 4/B bits: 5.1 at B=32, 4.6 at 64, 4.3 at 128 — but K is padded to a
   * multiple of B, so 128 gains nothing on K=784 (mnist-mlp: 15.3% of fp32 at 64 and at 128, 16.6% at 32).
   */
  readonly blockSize?: number;
  /** Symmetric blocks without zero points (default false: per-block zero points, usually more accurate). */
  readonly symmetric?: boolean;
  /** MatMulNBits accuracy_level: 0 unset (default), 1 fp32, 4 int8 activations inside the kernel. */
  readonly accuracyLevel?: number;
  /** Layers with K below this stay float (too small to gain anything); default 0. */
  readonly minK?: number;
}

/** Create the pass. */
export function createInt4WeightsPass(opts: Int4PassOptions = {}): Pass {
  return { name: 'int4-weights', run: (g, ctx) => runInt4(g, ctx, opts) };
}

async function runInt4(root: Graph, ctx: PassContext, opts: Int4PassOptions): Promise<PassReport> {
  const blockSize = opts.blockSize ?? 64;
  if (!isValidBlockSize(blockSize))
    return refused('int4-weights', `block size ${blockSize} is not a power of two ≥ 16 (use 32, 64 or 128)`);
  const already = quantizedOpsIn(root);
  if (already.length > 0)
    return refused(
      'int4-weights',
      `model is already quantized (${already.join(', ')}); quantize the float original instead`,
    );
  const changed: NodeNote[] = [];
  const skipped: NodeNote[] = [];
  const plan = [];
  // Every graph of the tree: MatMul/Gemm inside If branches and Loop/Scan bodies are quantized too.
  const nodes = allGraphs(root).flatMap(({ graph, label }) =>
    graph.nodes.map((node) => ({ graph, node, where: label === '' ? '' : ` (inside ${label})` })),
  );
  for (const { graph, node, where } of nodes) {
    if (node.opType === 'Conv')
      skipped.push({
        node: node.name,
        opType: 'Conv',
        precision: 'fp32',
        reason: `MatMulNBits covers MatMul/Gemm only${where}`,
      });
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const info = linearWeight(graph, node);
    const ex =
      exclusionReason(node, ctx.exclude) ??
      (typeof info === 'string' ? info : info.K < (opts.minK ?? 0) ? `K=${info.K} below minK` : undefined);
    if (ex !== undefined || typeof info === 'string') {
      skipped.push({
        node: node.name,
        opType: node.opType,
        precision: 'fp32',
        reason: `${ex ?? 'unsupported'}${where}`,
      });
      continue;
    }
    plan.push({ graph, node, info });
  }
  if (plan.length > 0) ensureMsDomain(ctx.model);
  for (const { graph, node, info } of plan) {
    const kn = info.transB ? transpose2d(info.b.data, info.N, info.K) : info.b.data;
    const q = quantizeMatMulNBits4(kn, info.K, info.N, { blockSize, symmetric: opts.symmetric ?? false });
    const base = info.b.name;
    const bName = graph.freshName(`${base}_q4`);
    const sName = graph.freshName(`${base}_q4_scales`);
    graph.addInitializer(mkTensor(bName, 'uint8', [info.N, q.kBlocks, blockSize / 2], q.b));
    graph.addInitializer(mkTensor(sName, 'float32', [info.N, q.kBlocks], q.scales));
    const inputs = [node.inputs[0] ?? '', bName, sName];
    if (q.zeroPoints) {
      const zName = graph.freshName(`${base}_q4_zp`);
      graph.addInitializer(mkTensor(zName, 'uint8', [info.N, Math.ceil(q.kBlocks / 2)], q.zeroPoints));
      inputs.push(zName);
    }
    if (info.bias) {
      while (inputs.length < 5) inputs.push('');
      inputs.push(biasVectorName(graph, info.bias));
    }
    const attributes = [
      mkIntAttr('K', info.K),
      mkIntAttr('N', info.N),
      mkIntAttr('bits', 4),
      mkIntAttr('block_size', blockSize),
    ];
    if ((opts.accuracyLevel ?? 0) > 0) attributes.push(mkIntAttr('accuracy_level', opts.accuracyLevel ?? 0));
    graph.replaceNode(node, {
      opType: 'MatMulNBits',
      domain: 'com.microsoft',
      name: node.name,
      inputs,
      outputs: [...node.outputs],
      attributes,
    });
    changed.push({
      node: node.name,
      opType: node.opType,
      precision: 'int4',
      reason: `4-bit blocks of ${blockSize} along K=${info.K}${q.zeroPoints ? ' with zero points' : ', symmetric'}`,
    });
  }
  const dropped = dropUnusedInitializersDeep(root);
  return {
    pass: 'int4-weights',
    ok: true,
    summary:
      `${changed.length} MatMul/Gemm → MatMulNBits (4-bit, block ${blockSize}); ${skipped.length} node(s) ` +
      `left in float`,
    changed,
    skipped,
    stats: { quantized: changed.length, initializersDropped: dropped },
  };
}
