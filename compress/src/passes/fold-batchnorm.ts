/**
 * `fold-batchnorm`: a BatchNormalization (inference form) that is the only reader of a Conv's
 * output is folded into the Conv's weights and bias:
 *   W'[o] = W[o] · γ[o] / √(σ²[o] + ε),   b'[o] = (b[o] − μ[o]) · γ[o] / √(σ²[o] + ε) + β[o].
 * Quantizing afterwards then sees the weights the model really applies, and the BN disappears.
 */
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/types.js';
import type { NodeNote, Pass, PassContext, PassReport } from './types.js';
import { allGraphs } from '../ir/scopes.js';
import { dropUnusedInitializersDeep, floatAttr, floatInit, mkTensor, numel } from './util.js';

/** Create the pass. */
export function createFoldBatchNormPass(): Pass {
  return { name: 'fold-batchnorm', run: runFold };
}

async function runFold(root: Graph, _ctx: PassContext): Promise<PassReport> {
  const changed: NodeNote[] = [];
  const skipped: NodeNote[] = [];
  for (const { graph } of allGraphs(root)) foldGraph(graph, changed, skipped);
  const dropped = dropUnusedInitializersDeep(root);
  return {
    pass: 'fold-batchnorm',
    ok: true,
    summary: `${changed.length} BatchNormalization folded, ${skipped.length} kept`,
    changed,
    skipped,
    stats: { folded: changed.length, initializersDropped: dropped },
  };
}

/** Fold every foldable BatchNormalization of one graph (subgraphs are graphs too). */
function foldGraph(graph: Graph, changed: NodeNote[], skipped: NodeNote[]): void {
  for (const bn of [...graph.nodes]) {
    if (bn.opType !== 'BatchNormalization') continue;
    const why = foldOne(graph, bn);
    // `folded`, not `fp32`: the node is gone (its arithmetic lives in the Conv's weights), so it
    // must not count as a layer left in float in the per-layer precision table.
    if (why === undefined)
      changed.push({
        node: bn.name,
        opType: bn.opType,
        precision: 'folded',
        reason:
          `removed: folded into the weights and bias of Conv ` +
          `${graph.producerOf(bn.outputs[0] ?? '')?.name ?? '?'}`,
      });
    else skipped.push({ node: bn.name, opType: bn.opType, precision: 'fp32', reason: why });
  }
}

/** Fold one BN; returns why not, or undefined when folded. */
function foldOne(graph: Graph, bn: Node): string | undefined {
  if (bn.outputs.filter((o) => o !== '').length !== 1) return 'training-mode BatchNormalization (extra outputs)';
  const x = bn.inputs[0] ?? '';
  const conv = graph.producerOf(x);
  if (conv?.opType !== 'Conv') return 'input is not produced by a Conv';
  if (graph.consumersOf(x).length !== 1 || graph.isGraphOutput(x) || graph.implicitConsumersOf(x).length > 0)
    return 'the Conv output has other readers';
  const [gamma, beta, mean, varT] = [1, 2, 3, 4].map((i) => floatInit(graph, bn.inputs[i]));
  const w = floatInit(graph, conv.inputs[1]);
  if (!gamma || !beta || !mean || !varT || !w) return 'BN parameters or Conv weight are not float32 constants';
  const c = w.dims[0] ?? 0;
  if ([gamma, beta, mean, varT].some((t) => numel(t.dims) !== c))
    return 'BN parameter length differs from the Conv output channels';
  const oldBias = conv.inputs[2] ? floatInit(graph, conv.inputs[2]) : undefined;
  if (conv.inputs[2] && !oldBias) return 'Conv bias is not a float32 constant';
  const eps = floatAttr(bn, 'epsilon', 1e-5);
  const inner = numel(w.dims) / c;
  const nw = new Float32Array(w.data.length);
  const nb = new Float32Array(c);
  for (let o = 0; o < c; o++) {
    const k = (gamma.data[o] ?? 0) / Math.sqrt((varT.data[o] ?? 0) + eps);
    for (let i = 0; i < inner; i++) nw[o * inner + i] = (w.data[o * inner + i] ?? 0) * k;
    nb[o] = ((oldBias?.data[o] ?? 0) - (mean.data[o] ?? 0)) * k + (beta.data[o] ?? 0);
  }
  const wName = graph.freshName(`${w.name}_bnfold`);
  const bName = graph.freshName(`${conv.name}_bias_bnfold`);
  graph.addInitializer(mkTensor(wName, 'float32', [...w.dims], nw));
  graph.addInitializer(mkTensor(bName, 'float32', [c], nb));
  graph.replaceNode(conv, {
    opType: 'Conv',
    name: conv.name,
    domain: conv.domain,
    inputs: [conv.inputs[0] ?? '', wName, bName],
    outputs: [bn.outputs[0] ?? ''],
    attributes: conv.attributes,
  });
  graph.removeNode(bn);
  return undefined;
}
