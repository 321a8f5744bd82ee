/**
 * Unstructured magnitude pruning: the smallest weights of Conv, Gemm and MatMul layers are set
 * to zero, by a threshold per layer or one threshold over all of them (global). The model keeps
 * its shapes, so onnxruntime's dense kernels do the same work: nothing gets faster, but zeros
 * compress, so the file travels smaller (the deployment can carry it gzip-encoded).
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { Graph, Node } from '../ir/index.js';
import { floatInit, mkTensor, exclusionReason } from '../passes/util.js';
import type { Exclusions } from '../passes/types.js';

/** Options of {@link pruneMagnitude}. */
export interface MagnitudeOptions {
  /** Fraction of weights set to zero, in [0, 1). */
  readonly sparsity: number;
  /** `layer`: each layer loses that fraction; `global`: one threshold over all pruned layers. Default `layer`. */
  readonly scope?: 'layer' | 'global';
  /** Per layer sparsity (by node name), overriding `sparsity` for those layers (layer scope only). */
  readonly layers?: Readonly<Record<string, number>>;
  /** Layers with fewer weights are left alone (tiny layers cost nothing and hurt most). Default 64. */
  readonly minWeights?: number;
  readonly exclude?: Exclusions;
}

/** One pruned layer. */
export interface MagnitudeNote {
  readonly node: string;
  readonly opType: string;
  readonly weights: number;
  readonly zeros: number;
}

const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);

function checkRatio(what: string, r: unknown): number {
  if (typeof r !== 'number' || !(r >= 0 && r < 1))
    throw new EdgefleetError('EF_ERR_PRUNE_RATIO', `${what} is ${String(r)}; sparsity must lie in [0, 1)`, {
      [what]: r,
    });
  return r;
}

/** The |w| below which `share` of `values` fall (the k-th smallest magnitude). */
function threshold(values: Float32Array, share: number): number {
  const k = Math.floor(share * values.length);
  if (k <= 0) return -1;
  const mags = Float32Array.from(values, Math.abs).sort();
  return mags[k - 1] as number;
}

/** Zeros weights in place (new initializers); returns a note per layer it considered. */
export function pruneMagnitude(graph: Graph, opts: MagnitudeOptions): MagnitudeNote[] {
  const sparsity = checkRatio('sparsity', opts.sparsity);
  const layers = graph.nodes.filter(
    (n) =>
      WEIGHTED.has(n.opType) &&
      floatInit(graph, n.inputs[1]) !== undefined &&
      !(opts.exclude && exclusionReason(n, opts.exclude)) &&
      (floatInit(graph, n.inputs[1])?.data.length ?? 0) >= (opts.minWeights ?? 64),
  );
  for (const [name, r] of Object.entries(opts.layers ?? {})) {
    checkRatio(`sparsity of ${name}`, r);
    if (!layers.some((n) => n.name === name))
      throw new EdgefleetError(
        'EF_ERR_PRUNE_LAYER',
        `no prunable layer ${name}; layers: ${layers
          .map((n) => n.name)
          .slice(0, 12)
          .join(', ')}`,
        { layer: name },
      );
  }
  let globalCut = -1;
  if (opts.scope === 'global') {
    const all = new Float32Array(layers.reduce((s, n) => s + (floatInit(graph, n.inputs[1])?.data.length ?? 0), 0));
    let at = 0;
    for (const n of layers) {
      const w = floatInit(graph, n.inputs[1])?.data ?? new Float32Array();
      all.set(w, at);
      at += w.length;
    }
    globalCut = threshold(all, sparsity);
  }
  return layers.map((n) =>
    zeroLayer(
      graph,
      n,
      opts.scope === 'global' ? globalCut : threshold(weightsOf(graph, n), opts.layers?.[n.name] ?? sparsity),
    ),
  );
}

function weightsOf(graph: Graph, n: Node): Float32Array {
  return floatInit(graph, n.inputs[1])?.data ?? new Float32Array();
}

function zeroLayer(graph: Graph, n: Node, cut: number): MagnitudeNote {
  const w = floatInit(graph, n.inputs[1]);
  if (!w) throw new Error(`layer ${n.name} lost its weight`);
  const data = w.data.slice();
  let zeros = 0;
  for (let i = 0; i < data.length; i++) {
    if (Math.abs(data[i] as number) <= cut) data[i] = 0;
    if (data[i] === 0) zeros++;
  }
  const name = graph.freshName(`${w.name}_sparse`);
  graph.addInitializer(mkTensor(name, 'float32', [...w.dims], data));
  graph.setNodeInput(n, 1, name);
  return { node: n.name, opType: n.opType, weights: data.length, zeros };
}
