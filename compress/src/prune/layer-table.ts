/**
 * The per-layer half of a pruning report: parameters and MACs of every weighted layer before
 * and after, and, with calibration data, the cosine of each layer's outputs (the channels it
 * kept) to the original's, from one probe pass over both models.
 */
import type { Dataset } from '../data/tensor.js';
import type { Model } from '../ir/index.js';
import { floatInit } from '../passes/util.js';
import type { Progress } from '../passes/types.js';
import { modelCost } from './cost.js';
import { outputCosine } from './least-squares.js';
import { readSolution } from './layer-weights.js';
import { collectLayerStats } from './probe.js';
import type { PruneLayerNote, PruneReport } from './report.js';

/** Options of {@link layerTable}. */
export interface LayerTableOptions {
  readonly inputDims: Readonly<Record<string, readonly number[]>>;
  readonly data?: Dataset;
  /** Original output indices each layer kept (layers whose outputs were cut). */
  readonly keptOutputs: ReadonlyMap<string, readonly number[]>;
  /** Cosine right after the cut of layers refit since. */
  readonly beforeRefit?: ReadonlyMap<string, number>;
  readonly onProgress?: (p: Progress) => void;
}

/** Per-layer notes and totals of `pruned` against `original`. */
export async function layerTable(
  original: Model,
  pruned: Model,
  opts: LayerTableOptions,
): Promise<{ layers: PruneLayerNote[]; totals: PruneReport['totals'] }> {
  const before = modelCost(original.graph, opts.inputDims);
  const after = modelCost(pruned.graph, opts.inputDims);
  const afterBy = new Map(after.layers.map((l) => [l.node, l]));
  const names = before.layers.map((l) => l.node).filter((n) => afterBy.has(n));
  const cosines = new Map<string, number>();
  if (opts.data) {
    const nodes = new Map(pruned.graph.nodes.map((n) => [n.name, n]));
    const probeable = names.filter((n) => {
      const node = nodes.get(n);
      return (
        node &&
        floatInit(pruned.graph, node.inputs[1]) !== undefined &&
        ['Conv', 'Gemm', 'MatMul'].includes(node.opType)
      );
    });
    const stats = await collectLayerStats({
      current: pruned,
      reference: original,
      layers: probeable,
      data: opts.data,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    for (const name of probeable) {
      const s = stats.get(name);
      const node = nodes.get(name);
      if (!s || !node) continue;
      const outs = opts.keptOutputs.get(name) ?? Array.from({ length: s.o }, (_x, i) => i);
      const cols = Array.from({ length: s.k }, (_x, i) => i);
      cosines.set(name, outputCosine(s, readSolution(pruned.graph, node), cols, outs));
    }
  }
  const layers = before.layers
    .filter((l) => afterBy.has(l.node))
    .map((l) => {
      const a = afterBy.get(l.node);
      return {
        node: l.node,
        opType: l.opType,
        paramsBefore: l.params,
        paramsAfter: a?.params ?? 0,
        macsBefore: l.macs,
        macsAfter: a?.macs ?? 0,
        cosine: cosines.get(l.node) ?? null,
        cosineBeforeRefit: opts.beforeRefit?.get(l.node) ?? null,
      };
    });
  return {
    layers,
    totals: { paramsBefore: before.params, paramsAfter: after.params, macsBefore: before.macs, macsAfter: after.macs },
  };
}
