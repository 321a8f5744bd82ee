/**
 * What a model costs, per weighted layer and in total: parameters (elements of its constant
 * tensors, shape constants excepted) and multiply-accumulates per sample of Conv, Gemm and
 * MatMul (the work pruning removes; elementwise ops are not counted, as is usual for MACs).
 */
import { getAttrInt, type Graph } from '../ir/index.js';
import { numel } from '../passes/util.js';
import { shapesAt, type ChannelAnalysis } from './channel-graph.js';

/** Parameters and MACs of one weighted layer. */
export interface LayerCost {
  readonly node: string;
  readonly opType: string;
  readonly params: number;
  readonly macs: number;
}

/** A model's cost. */
export interface ModelCost {
  readonly layers: readonly LayerCost[];
  /** Elements of every initializer except int64 ones (shapes, axes, indices). */
  readonly params: number;
  /** MACs of the layers, per sample. */
  readonly macs: number;
}

const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul', 'ConvInteger', 'MatMulInteger', 'QLinearConv', 'QLinearMatMul']);

/** Cost of `graph` at `inputDims` (batch 1 gives per-sample MACs). Layers whose shapes are unknown count 0 MACs. */
export function modelCost(graph: Graph, inputDims: Readonly<Record<string, readonly number[]>>): ModelCost {
  const { shapes, order } = shapesAt(graph, inputDims);
  const dims = (v: string | undefined): number[] | undefined => (v ? shapes.get(v)?.dims : undefined);
  const layers: LayerCost[] = [];
  for (const node of order) {
    if (!WEIGHTED.has(node.opType)) continue;
    const params = node.inputs.reduce((s, v) => {
      const t = graph.initializers.get(v);
      return s + (t && t.dtype !== 'int64' && numel(t.dims) > 1 ? numel(t.dims) : 0);
    }, 0);
    if (params === 0) continue;
    const out = dims(node.outputs[0]);
    let macs = 0;
    if (out && (node.opType === 'Conv' || node.opType === 'ConvInteger')) {
      const w = dims(node.inputs[1]) ?? [];
      macs = numel(out) * numel(w.slice(1));
    } else if (out && node.opType === 'QLinearConv') {
      macs = numel(out) * numel((dims(node.inputs[3]) ?? []).slice(1));
    } else if (out) {
      const a = dims(node.inputs[0]) ?? [];
      const k = node.opType === 'Gemm' && getAttrInt(node, 'transA', 0) === 1 ? a[0] : a[a.length - 1];
      macs = numel(out) * (k ?? 0);
    }
    layers.push({ node: node.name, opType: node.opType, params, macs });
  }
  let params = 0;
  for (const t of graph.initializers.values()) if (t.dtype !== 'int64') params += numel(t.dims);
  return { layers, params, macs: layers.reduce((s, l) => s + l.macs, 0) };
}

/** How each weighted layer's cost depends on the groups it reads and writes. */
interface LayerTerm {
  readonly params: number;
  readonly macs: number;
  /** Shares of its input channels per group id (the rest is never cut). */
  readonly inShares: ReadonlyArray<{ readonly group: number; readonly share: number }>;
  /** Group of its output channels (depthwise: the same group as its input). */
  readonly outGroup: number | undefined;
}

/**
 * A quick estimate of params and MACs for any kept fraction per group, without cutting: each
 * layer scales by the kept share of its inputs times the kept share of its outputs. Used by
 * the ratio allocation, which tries many configurations; reports use {@link modelCost}.
 */
export function groupCostModel(
  graph: Graph,
  analysis: ChannelAnalysis,
  inputDims: Readonly<Record<string, readonly number[]>>,
): {
  readonly base: { params: number; macs: number; channels: number };
  cost(kept: ReadonlyMap<number, number>): { params: number; macs: number; channels: number };
} {
  const base = modelCost(graph, inputDims);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const groupOf = (tensor: string): number | undefined => {
    const seg = analysis.layouts.get(tensor)?.segments;
    return seg?.length === 1 && seg[0]?.space != null ? analysis.rootOf(seg[0].space) : undefined;
  };
  const terms: LayerTerm[] = base.layers.map((l) => {
    const node = byName.get(l.node);
    const layout = analysis.layouts.get(node?.inputs[0] ?? '');
    const total = layout ? layout.segments.reduce((s, g) => s + g.size, 0) : 1;
    const inShares = (layout?.segments ?? [])
      .filter((s) => s.space !== null)
      .map((s) => ({ group: analysis.rootOf(s.space as number), share: s.size / total }));
    const depthwise = analysis.members.some((m) => m.kind === 'depthwise' && m.node === l.node);
    return {
      params: l.params,
      macs: l.macs,
      inShares: depthwise ? [] : inShares,
      outGroup: groupOf(node?.outputs[0] ?? ''),
    };
  });
  const layerParams = base.layers.reduce((s, l) => s + l.params, 0);
  // Constants outside weighted layers (BatchNorm, biases of
  // Adds, …) mostly scale with one group: count them as a whole.
  const other = base.params - layerParams;
  const prunable = analysis.groups.filter((g) => g.prunable);
  const channels = prunable.reduce((s, g) => s + g.channels, 0);
  return {
    base: { params: base.params, macs: base.macs, channels },
    cost(kept) {
      let params = other;
      const keptChannels = prunable.reduce((s, g) => s + g.channels * (kept.get(g.id) ?? 1), 0);
      let macs = 0;
      for (const t of terms) {
        const fixed = 1 - t.inShares.reduce((s, x) => s + x.share, 0);
        const fin = fixed + t.inShares.reduce((s, x) => s + x.share * (kept.get(x.group) ?? 1), 0);
        const fout = t.outGroup === undefined ? 1 : (kept.get(t.outGroup) ?? 1);
        params += t.params * fin * fout;
        macs += t.macs * fin * fout;
      }
      return { params, macs, channels: keptChannels };
    },
  };
}
