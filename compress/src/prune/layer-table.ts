/**
 * The per-layer half of a pruning report: parameters and MACs of every weighted layer before
 * and after, and, with calibration data, the cosine of each layer's outputs (the channels it
 * kept) to the original's, from one pass of both models over the data.
 */
import type { Dataset } from '../data/tensor.js';
import type { Model } from '../ir/index.js';
import { sliceDataset } from '../data/tensor.js';
import { withOutputs } from '../calibration/compare.js';
import { openSession } from '../calibration/session.js';
import { writeModel } from '../ir/index.js';
import type { Progress } from '../passes/types.js';
import { modelCost } from './cost.js';
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
  const cosines = opts.data
    ? await layerCosines(original, pruned, names, opts.keptOutputs, opts.data)
    : new Map<string, number>();
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

/**
 * Cosine of each layer's output in `pruned` to the same layer's output in `original` (only
 * the original channels it kept), over every sample. Output tensors keep their names through
 * pruning, so each is exposed as an extra output of both models.
 */
async function layerCosines(
  original: Model,
  pruned: Model,
  layers: readonly string[],
  keptOutputs: ReadonlyMap<string, readonly number[]>,
  data: Dataset,
): Promise<Map<string, number>> {
  const nodes = new Map(pruned.graph.nodes.map((n) => [n.name, n]));
  const tensors = layers.map((l) => ({
    layer: l,
    tensor: nodes.get(l)?.outputs[0] ?? '',
    op: nodes.get(l)?.opType ?? '',
  }));
  const names = tensors.map((t) => t.tensor).filter((t) => t !== '');
  const a = await openSession(writeModel(withOutputs(original, names)));
  const b = await openSession(writeModel(withOutputs(pruned, names)));
  const acc = new Map(tensors.map((t) => [t.layer, { dot: 0, aa: 0, bb: 0 }]));
  try {
    for (let start = 0; start < data.count; start += 16) {
      const batch = sliceDataset(data, start, Math.min(data.count, start + 16));
      const feeds = Object.fromEntries(
        Object.entries(batch.inputs).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, data: t.data }]),
      );
      const ra = await a.run(feeds, names);
      const rb = await b.run(feeds, names);
      for (const t of tensors) {
        const x = ra[t.tensor];
        const y = rb[t.tensor];
        const s = acc.get(t.layer);
        if (!x || !y || !s) continue;
        const axis = t.op === 'MatMul' ? x.dims.length - 1 : 1;
        accumulateKept(s, x, y, axis, keptOutputs.get(t.layer));
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  return new Map([...acc].map(([k, s]) => [k, s.aa === 0 && s.bb === 0 ? 1 : s.dot / Math.sqrt(s.aa * s.bb || 1)]));
}

/** Adds one batch: original channel kept[i] against pruned channel i along `axis`. */
function accumulateKept(
  s: { dot: number; aa: number; bb: number },
  x: { dims: readonly number[]; data: Float32Array },
  y: { dims: readonly number[]; data: Float32Array },
  axis: number,
  kept: readonly number[] | undefined,
): void {
  const outer = x.dims.slice(0, axis).reduce((p, q) => p * q, 1);
  const inner = x.dims.slice(axis + 1).reduce((p, q) => p * q, 1);
  const cx = x.dims[axis] ?? 1;
  const cy = y.dims[axis] ?? 1;
  const map = kept ?? Array.from({ length: cy }, (_v, i) => i);
  if (map.length !== cy) return;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < cy; i++) {
      const xa = (o * cx + (map[i] as number)) * inner;
      const yb = (o * cy + i) * inner;
      for (let k = 0; k < inner; k++) {
        const u = x.data[xa + k] as number;
        const v = y.data[yb + k] as number;
        s.dot += u * v;
        s.aa += u * u;
        s.bb += v * v;
      }
    }
}
