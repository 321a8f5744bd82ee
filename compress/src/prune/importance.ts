/**
 * Which channels of a group to keep. Five criteria:
 *
 * - `l1`, `l2`: norm of each producer's filter for the channel (each producer's scores are
 *   divided by their mean first, so a residual group's producers count equally);
 * - `bn-scale`: |γ|/√(σ²+ε) of the group's BatchNormalizations (network slimming); groups
 *   without one fall back to `l2`, and the report says so;
 * - `activation`: the channel's energy in its consumers' outputs on calibration data,
 *   Σ wᵀ·E[x xᵀ]·w over the consumer weights reading it;
 * - `reconstruction`: greedy removal by least-squares error (He et al. 2017: remove the
 *   channel the next layer can best absorb once refit). The error increase of removing the
 *   columns b of a layer whose refit solution is W = H·C (H the inverse of the ridge
 *   covariance) is tr(W_bᵀ·H_bb⁻¹·W_b); after each removal H and W are downdated in place
 *   (H ← H_rr − H_rb·H_bb⁻¹·H_br, W ← W_r − H_rb·H_bb⁻¹·W_b), the same algebra as optimal
 *   brain surgeon. Consumers wider than `maxExactColumns` columns (the inverse would cost too
 *   much) and grouped convolutions contribute their `activation` score instead.
 */
import { getAttrFloat, type Graph, type Node } from '../ir/index.js';
import { floatInit, numel } from '../passes/util.js';
import type { ChannelAnalysis, ChannelGroup } from './channel-graph.js';
import { addRidge, normalEquations, DEFAULT_RIDGE } from './least-squares.js';
import { choleskySolve, choleskyWithJitter, inverseFromCholesky, smallInverse } from './linalg.js';
import { groupsOf, readSolution } from './layer-weights.js';
import type { LayerStats } from './probe.js';

/** A channel importance criterion. */
export type Importance = 'l1' | 'l2' | 'bn-scale' | 'activation' | 'reconstruction';

/** Everything a choice needs. */
export interface SelectionInput {
  readonly graph: Graph;
  readonly analysis: ChannelAnalysis;
  readonly group: ChannelGroup;
  /** Channels to remove (per group total; spread evenly over its blocks). */
  readonly remove: number;
  readonly importance: Importance;
  /** Statistics of the group's consumers on the unpruned model (activation, reconstruction). */
  readonly stats?: ReadonlyMap<string, LayerStats>;
  /** Default {@link DEFAULT_RIDGE}. */
  readonly ridge?: number;
  /** Default 1536. */
  readonly maxExactColumns?: number;
}

/** The kept channels (ascending), the removed ones in the order they were given up, and the criterion. */
export interface Selection {
  readonly kept: number[];
  /** With one block, every prefix of this list is the selection for that many removals. */
  readonly removed: number[];
  readonly method: string;
}

const byNameIn = (graph: Graph) => new Map(graph.nodes.map((n) => [n.name, n]));

/** Columns of each channel of `group` in consumer `node`'s least-squares view (probe column order). */
export function channelColumns(analysis: ChannelAnalysis, group: ChannelGroup, graph: Graph, node: Node): number[][] {
  const layout = analysis.layouts.get(node.inputs[0] ?? '');
  const w = floatInit(graph, node.inputs[1]);
  if (!layout || !w) throw new Error(`consumer ${node.name} has no channel layout or weight`);
  const taps = node.opType === 'Conv' ? numel(w.dims.slice(2)) : 1;
  const width = layout.block * taps;
  const cols: number[][] = Array.from({ length: group.channels }, () => []);
  let offset = 0;
  for (const seg of layout.segments) {
    if (seg.space !== null && analysis.rootOf(seg.space) === group.id)
      for (let c = 0; c < seg.size; c++) for (let t = 0; t < width; t++) cols[c]?.push((offset + c) * width + t);
    offset += seg.size;
  }
  return cols;
}

function normalised(scores: Float64Array): Float64Array {
  let mean = 0;
  for (const s of scores) mean += s;
  mean /= Math.max(1, scores.length);
  return mean > 0 ? scores.map((s) => s / mean) : scores;
}

/** l1/l2 of each producer's filters, normalised per producer and summed. */
function normScores(input: SelectionInput, p: 1 | 2): Float64Array {
  const total = new Float64Array(input.group.channels);
  const nodes = byNameIn(input.graph);
  for (const name of input.group.producers) {
    const node = nodes.get(name);
    if (!node) continue;
    const sol = readSolution(input.graph, node);
    const s = new Float64Array(sol.o);
    for (let i = 0; i < sol.k; i++)
      for (let j = 0; j < sol.o; j++) {
        const v = sol.w[i * sol.o + j] as number;
        s[j] = (s[j] as number) + (p === 1 ? Math.abs(v) : v * v);
      }
    normalised(p === 2 ? s.map(Math.sqrt) : s).forEach((v, j) => {
      total[j] = (total[j] as number) + v;
    });
  }
  return total;
}

/** |γ|/√(σ²+ε) of the group's BatchNormalizations, or undefined when it has none. */
function bnScores(input: SelectionInput): Float64Array | undefined {
  const nodes = byNameIn(input.graph);
  const total = new Float64Array(input.group.channels);
  let found = false;
  for (const m of input.analysis.members) {
    if (m.kind !== 'param' || m.slot !== 1) continue;
    const node = nodes.get(m.node);
    const l = input.analysis.layouts.get(m.tensor);
    const only = l?.segments.length === 1 ? l.segments[0] : undefined;
    if (
      node?.opType !== 'BatchNormalization' ||
      only?.space == null ||
      input.analysis.rootOf(only.space) !== input.group.id
    )
      continue;
    const gamma = floatInit(input.graph, node.inputs[1]);
    const variance = floatInit(input.graph, node.inputs[4]);
    if (!gamma || !variance || gamma.data.length !== total.length) continue;
    const eps = getAttrFloat(node, 'epsilon', 1e-5) as number;
    const s = new Float64Array(total.length).map(
      (_v, c) => Math.abs(gamma.data[c] as number) / Math.sqrt((variance.data[c] as number) + eps),
    );
    normalised(s).forEach((v, c) => {
      total[c] = (total[c] as number) + v;
    });
    found = true;
  }
  return found ? total : undefined;
}

/** One consumer's activation score per channel: Σ_o w_bᵀ·E[x xᵀ]_bb·w_b, normalised to sum 1. */
function activationOf(input: SelectionInput, node: Node, s: LayerStats): Float64Array {
  const cols = channelColumns(input.analysis, input.group, input.graph, node);
  const sol = readSolution(input.graph, node);
  const scores = new Float64Array(cols.length);
  cols.forEach((b, c) => {
    let e = 0;
    for (let j = 0; j < sol.o; j++)
      for (const p of b) {
        const wp = sol.w[p * sol.o + j] as number;
        if (wp === 0) continue;
        for (const q of b) e += wp * (s.xtx[p * s.k + q] as number) * (sol.w[q * sol.o + j] as number);
      }
    scores[c] = e / Math.max(1, s.rows);
  });
  const sum = scores.reduce((a, v) => a + v, 0);
  return sum > 0 ? scores.map((v) => v / sum) : scores;
}

/** Removes `remove` channels with the lowest scores, the same number from each block. */
function dropLowest(scores: Float64Array, remove: number, blocks: number, method: string): Selection {
  const per = scores.length / blocks;
  const kept: number[] = [];
  const removed: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const idx = Array.from({ length: per }, (_x, i) => b * per + i);
    idx.sort((x, y) => (scores[x] as number) - (scores[y] as number) || x - y);
    removed.push(...idx.slice(0, remove / blocks));
    kept.push(...idx.slice(remove / blocks));
  }
  return { kept: kept.sort((a, b) => a - b), removed, method };
}

/** Chooses the channels to keep. */
export function selectChannels(input: SelectionInput): Selection {
  const { group, remove, importance } = input;
  if (remove <= 0)
    return { kept: Array.from({ length: group.channels }, (_x, i) => i), removed: [], method: 'none removed' };
  if (importance === 'l1' || importance === 'l2')
    return dropLowest(normScores(input, importance === 'l1' ? 1 : 2), remove, group.blocks, importance);
  if (importance === 'bn-scale') {
    const s = bnScores(input);
    return s
      ? dropLowest(s, remove, group.blocks, 'bn-scale')
      : dropLowest(normScores(input, 2), remove, group.blocks, 'l2 (the group has no BatchNormalization)');
  }
  const stats = input.stats;
  const consumers = group.consumers.map((n) => byNameIn(input.graph).get(n)).filter((n): n is Node => n !== undefined);
  if (!stats || consumers.some((n) => !stats.has(n.name)))
    throw new Error(`${importance} importance needs statistics of ${group.consumers.join(', ')}`);
  if (importance === 'activation') {
    const total = new Float64Array(group.channels);
    for (const n of consumers)
      activationOf(input, n, stats.get(n.name) as LayerStats).forEach((v, c) => {
        total[c] = (total[c] as number) + v;
      });
    return dropLowest(total, remove, group.blocks, 'activation');
  }
  return greedyReconstruction(input, consumers, stats);
}

/** The downdatable least-squares state of one consumer (see the file comment). */
interface Surgeon {
  readonly n: number;
  readonly o: number;
  readonly h: Float64Array;
  readonly w: Float64Array;
  readonly cols: number[][];
  readonly scale: number;
}

function surgeonFor(input: SelectionInput, node: Node, s: LayerStats): Surgeon {
  const all = Array.from({ length: s.k }, (_x, i) => i);
  const outs = Array.from({ length: s.o }, (_x, i) => i);
  const { a, c, my } = normalEquations(s, all, outs, true);
  addRidge(a, s.k, input.ridge ?? DEFAULT_RIDGE);
  const { l } = choleskyWithJitter(a, s.k);
  let variance = 0;
  for (let j = 0; j < s.o; j++) variance += (s.yss[j] as number) / Math.max(1, s.rows) - (my[j] as number) ** 2;
  return {
    n: s.k,
    o: s.o,
    h: inverseFromCholesky(l, s.k),
    w: choleskySolve(l, s.k, c, s.o),
    cols: channelColumns(input.analysis, input.group, input.graph, node),
    scale: variance > 0 ? 1 / variance : 1,
  };
}

/** tr(W_bᵀ·H_bb⁻¹·W_b) scaled, and the pieces the downdate reuses. */
function removalCost(sg: Surgeon, b: readonly number[]): { cost: number; hinv: Float64Array } | undefined {
  const s = b.length;
  const hb = new Float64Array(s * s);
  for (let p = 0; p < s; p++)
    for (let q = 0; q < s; q++) hb[p * s + q] = sg.h[(b[p] as number) * sg.n + (b[q] as number)] as number;
  const hinv = smallInverse(hb, s);
  if (!hinv) return undefined;
  let cost = 0;
  for (let p = 0; p < s; p++)
    for (let q = 0; q < s; q++) {
      const k = hinv[p * s + q] as number;
      if (k === 0) continue;
      const rp = (b[p] as number) * sg.o;
      const rq = (b[q] as number) * sg.o;
      let dot = 0;
      for (let j = 0; j < sg.o; j++) dot += (sg.w[rp + j] as number) * (sg.w[rq + j] as number);
      cost += k * dot;
    }
  return { cost: cost * sg.scale, hinv };
}

/** Removes columns `b` from the surgeon's H and W (rows/columns of b are left stale and never read again). */
function downdate(sg: Surgeon, b: readonly number[], hinv: Float64Array, active: readonly number[]): void {
  const s = b.length;
  // T = H_rb·H_bb⁻¹ for every active row r.
  const t = new Float64Array(active.length * s);
  active.forEach((r, ri) => {
    for (let q = 0; q < s; q++) {
      let v = 0;
      for (let p = 0; p < s; p++) v += (sg.h[r * sg.n + (b[p] as number)] as number) * (hinv[p * s + q] as number);
      t[ri * s + q] = v;
    }
  });
  active.forEach((r, ri) => {
    for (const c of active) {
      let v = 0;
      for (let q = 0; q < s; q++) v += (t[ri * s + q] as number) * (sg.h[(b[q] as number) * sg.n + c] as number);
      sg.h[r * sg.n + c] = (sg.h[r * sg.n + c] as number) - v;
    }
    for (let j = 0; j < sg.o; j++) {
      let v = 0;
      for (let q = 0; q < s; q++) v += (t[ri * s + q] as number) * (sg.w[(b[q] as number) * sg.o + j] as number);
      sg.w[r * sg.o + j] = (sg.w[r * sg.o + j] as number) - v;
    }
  });
}

/**
 * A removal order with the consumers' refit error after each removal (cumulative, relative to their output variance).
 */
export interface Elimination {
  readonly order: number[];
  readonly curve: number[];
  /** Consumers scored by activation instead (too wide for the exact inverse, or grouped). */
  readonly approximated: string[];
}

/**
 * Removes `input.remove` channels one at a time: the cheapest by least-squares refit error
 * (greedy), or in the given `forced` order (then the curve prices that order). Each removal
 * downdates every consumer's inverse and solution.
 */
export function eliminate(
  input: SelectionInput,
  consumers: readonly Node[],
  stats: ReadonlyMap<string, LayerStats>,
  forced?: readonly number[],
): Elimination {
  const { group, remove } = input;
  const maxCols = input.maxExactColumns ?? 1536;
  const surgeons: Surgeon[] = [];
  const fixed = new Float64Array(group.channels);
  const approximated: string[] = [];
  for (const node of consumers) {
    const s = stats.get(node.name) as LayerStats;
    if (s.k > maxCols || groupsOf(node) > 1) {
      activationOf(input, node, s).forEach((v, c) => {
        fixed[c] = (fixed[c] as number) + v;
      });
      approximated.push(node.name);
    } else surgeons.push(surgeonFor(input, node, s));
  }
  const per = group.channels / group.blocks;
  const quota = remove / group.blocks;
  const removedInBlock = new Array<number>(group.blocks).fill(0);
  const removed = new Set<number>();
  const order: number[] = [];
  const curve: number[] = [];
  const actives = surgeons.map((sg) => Array.from({ length: sg.n }, (_x, i) => i));
  const costOf = (c: number): number => {
    let cost = fixed[c] as number;
    for (const sg of surgeons) cost += removalCost(sg, sg.cols[c] as number[])?.cost ?? Infinity;
    return cost;
  };
  for (let step = 0; step < remove; step++) {
    let best = forced?.[step] ?? -1;
    let bestCost = best >= 0 ? costOf(best) : Infinity;
    if (!forced)
      for (let c = 0; c < group.channels; c++) {
        if (removed.has(c) || (removedInBlock[Math.floor(c / per)] as number) >= quota) continue;
        const cost = costOf(c);
        if (cost < bestCost) {
          bestCost = cost;
          best = c;
        }
      }
    if (best < 0) break;
    removed.add(best);
    order.push(best);
    curve.push((curve[curve.length - 1] ?? 0) + (Number.isFinite(bestCost) ? bestCost : 1));
    removedInBlock[Math.floor(best / per)] = (removedInBlock[Math.floor(best / per)] as number) + 1;
    surgeons.forEach((sg, i) => {
      const b = sg.cols[best] as number[];
      const hit = removalCost(sg, b);
      const gone = new Set(b);
      actives[i] = (actives[i] as number[]).filter((r) => !gone.has(r));
      if (hit) downdate(sg, b, hit.hinv, actives[i] as number[]);
    });
  }
  return { order, curve, approximated };
}

/** The consumers of a group, as nodes, with their statistics checked. */
export function consumersWithStats(input: SelectionInput): { nodes: Node[]; stats: ReadonlyMap<string, LayerStats> } {
  const nodes = byNameIn(input.graph);
  const consumers = input.group.consumers.map((n) => nodes.get(n)).filter((n): n is Node => n !== undefined);
  const stats = input.stats;
  if (!stats || consumers.some((n) => !stats.has(n.name)))
    throw new Error(`statistics of ${input.group.consumers.join(', ')} are missing`);
  return { nodes: consumers, stats };
}

function greedyReconstruction(
  input: SelectionInput,
  consumers: readonly Node[],
  stats: ReadonlyMap<string, LayerStats>,
): Selection {
  const { order, approximated } = eliminate(input, consumers, stats);
  const gone = new Set(order);
  const kept = Array.from({ length: input.group.channels }, (_x, i) => i).filter((c) => !gone.has(c));
  const note = approximated.length > 0 ? ` (activation score for ${approximated.join(', ')}: too wide or grouped)` : '';
  return { kept, removed: order, method: `reconstruction${note}` };
}
