/**
 * Reconstruction after channel pruning: every layer that lost input channels is refit by ridge
 * least squares so its outputs match the original model's on calibration data, layer by layer,
 * each from the activations of the model as pruned *and refit so far* (so later layers also
 * absorb what earlier refits could not). Layers that do not depend on each other are refit
 * from one pass over the data ("waves"). A refit that would miss the original's outputs by more
 * than the cut weights do (numerical trouble) is not written, and the report says so.
 */
import type { Dataset } from '../data/tensor.js';
import type { Graph, Model, Node } from '../ir/index.js';
import type { Progress } from '../passes/types.js';
import { dropUnusedInitializers } from '../passes/util.js';
import { outputFit, solveLayer, type LinearSolution, DEFAULT_RIDGE } from './least-squares.js';
import { groupsOf, hasBiasSlot, readSolution, writeSolution } from './layer-weights.js';
import { collectLayerStats, type LayerStats } from './probe.js';

/** One refit layer in the report. */
export interface RefitNote {
  readonly node: string;
  readonly opType: string;
  /** Cosine of the layer's outputs to the original's with the cut weights. */
  readonly cosineBefore: number;
  /** The same after the refit (equal to before when the refit was not written). */
  readonly cosineAfter: number;
  /** ‖outputs − original's‖² / ‖original's‖² with the cut weights, and after the refit. */
  readonly relErrorBefore: number;
  readonly relErrorAfter: number;
  /** Whether the refit was kept: only when it misses the original's outputs by less than the cut weights do. */
  readonly written: boolean;
}

/** Options of {@link reconstructLayers}. */
export interface ReconstructOptions {
  readonly data: Dataset;
  /** λ as a fraction of the mean covariance diagonal; default {@link DEFAULT_RIDGE}. */
  readonly ridge?: number;
  readonly batchSize?: number;
  readonly onProgress?: (p: Progress) => void;
}

/** Nodes each layer's input depends on (transitively). */
function ancestorsOf(graph: Graph, node: Node): Set<string> {
  const seen = new Set<string>();
  const stack = [...node.inputs];
  while (stack.length > 0) {
    const v = stack.pop() as string;
    const p = graph.producerOf(v);
    if (!p || seen.has(p.name)) continue;
    seen.add(p.name);
    stack.push(...p.inputs);
  }
  return seen;
}

/** Splits layers into waves: a layer waits for every listed layer its input depends on. */
export function refitWaves(graph: Graph, layers: readonly string[]): string[][] {
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  const deps = new Map(layers.map((l) => [l, ancestorsOf(graph, nodes.get(l) as Node)]));
  const pending = new Set(layers);
  const waves: string[][] = [];
  while (pending.size > 0) {
    const wave = [...pending].filter((l) => ![...pending].some((o) => o !== l && deps.get(l)?.has(o)));
    if (wave.length === 0) throw new Error('refit layers depend on each other in a cycle');
    for (const l of wave) pending.delete(l);
    waves.push(wave);
  }
  return waves;
}

/** Solves per output group (grouped convolutions are block-diagonal), pulled toward `prior` (k × outs). */
function solveGrouped(
  s: LayerStats,
  node: Node,
  outs: readonly number[],
  ridge: number,
  intercept: boolean,
  prior: LinearSolution,
): LinearSolution {
  const groups = groupsOf(node);
  if (groups === 1) return solveLayer(s, { outs, ridge, intercept, prior: prior.w });
  const k = s.k;
  const o = outs.length;
  const w = new Float64Array(k * o);
  const b = new Float64Array(o);
  const perIn = k / groups;
  const perOut = s.o / groups;
  let col = 0;
  for (let g = 0; g < groups; g++) {
    const cols = Array.from({ length: perIn }, (_x, i) => g * perIn + i);
    const mine = outs.filter((x) => Math.floor(x / perOut) === g);
    const sub = new Float64Array(perIn * mine.length);
    for (let i = 0; i < perIn; i++)
      for (let j = 0; j < mine.length; j++) sub[i * mine.length + j] = prior.w[(g * perIn + i) * o + col + j] as number;
    const part = solveLayer(s, { cols, outs: mine, ridge, intercept, prior: sub });
    for (let j = 0; j < mine.length; j++) {
      for (let i = 0; i < perIn; i++) w[(g * perIn + i) * o + col + j] = part.w[i * mine.length + j] as number;
      b[col + j] = part.b[j] as number;
    }
    col += mine.length;
  }
  return { w, b, k, o };
}

/**
 * Refits `layers` of `current` (mutated) against `original`. `keptOutputs` maps a layer whose
 * own outputs were cut to the original output indices it kept.
 */
export async function reconstructLayers(
  current: Model,
  original: Model,
  layers: readonly string[],
  keptOutputs: ReadonlyMap<string, readonly number[]>,
  opts: ReconstructOptions,
): Promise<RefitNote[]> {
  const notes: RefitNote[] = [];
  const ridge = opts.ridge ?? DEFAULT_RIDGE;
  const waves = refitWaves(current.graph, layers);
  let done = 0;
  for (const wave of waves) {
    const stats = await collectLayerStats({
      current,
      reference: original,
      layers: wave,
      data: opts.data,
      ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
    });
    for (const name of wave) {
      const node = current.graph.nodes.find((n) => n.name === name) as Node;
      const s = stats.get(name) as LayerStats;
      const outs = keptOutputs.get(name) ?? Array.from({ length: s.o }, (_x, i) => i);
      const cols = Array.from({ length: s.k }, (_x, i) => i);
      const intercept = hasBiasSlot(current.graph, node);
      const cut = readSolution(current.graph, node);
      const before = outputFit(s, cut, cols, outs);
      const sol = solveGrouped(s, node, outs, ridge, intercept, cut);
      const after = outputFit(s, sol, cols, outs);
      // Judged by the error least squares minimises, not the cosine: a layer that lost one of two
      // twin channels has half its outputs' scale and still a cosine of 1.
      const written = Number.isFinite(after.relError) && after.relError <= before.relError;
      if (written) writeSolution(current.graph, node, sol, intercept);
      const kept = written ? after : before;
      notes.push({
        node: name,
        opType: node.opType,
        cosineBefore: before.cosine,
        cosineAfter: kept.cosine,
        relErrorBefore: before.relError,
        relErrorAfter: kept.relError,
        written,
      });
      done++;
      opts.onProgress?.({ pass: 'reconstruct', done, total: layers.length, what: `refit ${name}` });
    }
    dropUnusedInitializers(current.graph);
  }
  return notes;
}
