/**
 * Sensitivity scan and ratio allocation. The scan prunes one group alone at each ratio of a
 * grid (choosing channels with the given importance and, by default, refitting that group's
 * consumers in closed form from the original model's statistics: with one group cut, their
 * inputs are the original inputs minus some columns) and records how far the model's outputs
 * move on calibration data. The allocation then answers a global target ("half the MACs",
 * "a quarter of the parameters") greedily: it keeps raising the ratio of the group whose next
 * step costs the least fidelity per unit saved, until the estimated cost meets the target.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { Dataset } from '../data/tensor.js';
import { loadModel, writeModel, type Graph, type Model, type Node } from '../ir/index.js';
import type { Progress } from '../passes/types.js';
import { applyCut } from './apply.js';
import type { ChannelAnalysis, ChannelGroup } from './channel-graph.js';
import { compareOutputs, type Outputs } from './fidelity.js';
import { frontierOf, frontierValues, runSuffix, suffixModel } from './frontier.js';
import { consumersWithStats, eliminate, selectChannels, type Importance, type SelectionInput } from './importance.js';
import { keptAlongAxis } from './layout.js';
import { solveLayer } from './least-squares.js';
import { hasBiasSlot, readSolution, writeSolution } from './layer-weights.js';
import type { LayerStats } from './probe.js';
import { dropUnusedInitializers, floatInit, numel } from '../passes/util.js';

/** One (group, ratio) measurement. */
export interface SensitivityPoint {
  readonly ratio: number;
  readonly kept: number;
  /**
   * What the allocation minimises: 1 − output cosine to the original with only this group
   * pruned (`output` scan), or the share of its consumers' output variance their refit cannot
   * recover (`layer` scan).
   */
  readonly drop: number;
  /** Output cosine and top-1 agreement (`output` scan only). */
  readonly cosine: number | null;
  readonly agreement: number | null;
}

/** How a scan measures: the model's outputs (a run per candidate) or the next layers' refit error (closed form). */
export type ScanMeasure = 'output' | 'layer';

/** Measurements of one group. */
export interface SensitivityRow {
  readonly group: string;
  readonly id: number;
  readonly channels: number;
  readonly measure: ScanMeasure;
  readonly points: readonly SensitivityPoint[];
  /** With one block: the channels in the order the importance gives them up (any prefix is a selection). */
  readonly order?: readonly number[];
  /** The criterion behind `order`. */
  readonly method?: string;
}

/**
 * Channels removed from a group of `channels` at `ratio`, in whole multiples of its blocks, keeping
 * one per block. With `multiple` > 1 the count kept is rounded to the nearest multiple of it (at
 * least one multiple; a group that would keep all its channels or more loses none), so the layers
 * reading the group see channel counts the CPU kernels' blocked layout handles (see
 * {@link DEFAULT_CHANNEL_MULTIPLE}). With blocks, each block keeps a multiple of what makes the
 * total a multiple of `multiple`.
 */
export function removalCount(channels: number, blocks: number, ratio: number, multiple = 1): number {
  const per = channels / blocks;
  const perBlock = Math.max(0, Math.min(per - 1, Math.floor(ratio * per + 1e-9)));
  if (multiple <= 1 || perBlock === 0) return perBlock * blocks;
  const unit = multiple / gcd(multiple, blocks);
  const kept = Math.max(unit, Math.round((per - perBlock) / unit) * unit);
  return kept >= per ? 0 : (per - kept) * blocks;
}

/**
 * The channel multiple a group is held to: `multiple` when a Conv reads its channels (the blocked
 * layout's rule is about a Conv's input channels), 1 when only Gemm/MatMul layers do, where any
 * count runs at full speed and small groups (mnist-cnn's) keep their fine steps.
 */
export function groupMultiple(graph: Graph, group: ChannelGroup, multiple: number): number {
  if (multiple <= 1) return 1;
  const convReads = group.consumers.some((name) => graph.nodes.find((n) => n.name === name)?.opType === 'Conv');
  return convReads ? multiple : 1;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Default of `channelMultiple`: groups a Conv reads keep multiples of 4 channels. Measured with
 * onnxruntime 1.30 on this project's x86 host (AVX-512, NCHWc block 16): a depthwise Conv, or a
 * Conv reading 16 or more channels, whose channel count is not a multiple of 4 is left out of the
 * blocked NCHWc layout and runs as a plain Conv with layout conversions around it, ~5× slower for
 * a 5×5 depthwise block of 150 channels than for 148 or 152 (docs/design-notes.md). 4 costs the
 * small models little freedom; a multiple of 16 (the AVX-512 block; 8 on AVX2) also saves the
 * padding of the last block.
 */
export const DEFAULT_CHANNEL_MULTIPLE = 4;

/** What the scan needs (built once by the caller). */
export interface ScanInput {
  readonly original: Model;
  readonly analysis: ChannelAnalysis;
  readonly groups: readonly ChannelGroup[];
  readonly stats: ReadonlyMap<string, LayerStats>;
  readonly reference: Outputs;
  readonly data: Dataset;
  readonly importance: Importance;
  readonly levels: readonly number[];
  readonly refit: boolean;
  readonly ridge: number;
  /** The dims the analysis was made at (applyCut checks shapes at them). */
  readonly inputDims: Readonly<Record<string, readonly number[]>>;
  /** Kept channel counts are multiples of this (see {@link removalCount}). Default 1. */
  readonly channelMultiple?: number;
  readonly onProgress?: (p: Progress) => void;
}

/** Refits `group`'s consumers of `model` (already cut) from the original statistics. */
export function refitFromOriginalStats(
  model: Model,
  analysis: ChannelAnalysis,
  group: ChannelGroup,
  kept: readonly number[],
  stats: ReadonlyMap<string, LayerStats>,
  ridge: number,
  maxColumns = 1536,
): void {
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));
  for (const name of group.consumers) {
    const node = nodes.get(name) as Node;
    const s = stats.get(name);
    const layout = analysis.layouts.get(node.inputs[0] ?? '');
    const w = floatInit(model.graph, node.inputs[1]);
    // A refit per candidate of a very wide layer (a Cholesky of thousands of columns) would
    // dominate the scan; such layers keep their cut weights here (the scan is pessimistic for them).
    if (!s || !layout || !w || s.k > maxColumns) continue;
    const taps = node.opType === 'Conv' ? numel(w.dims.slice(2)) : 1;
    const idx = keptAlongAxis(layout, (sp) => (analysis.rootOf(sp) === group.id ? kept : undefined));
    const cols = idx.flatMap((c) => Array.from({ length: taps }, (_x, t) => c * taps + t));
    const intercept = hasBiasSlot(model.graph, node);
    if (node.opType === 'Conv' && (w.dims[1] ?? 0) * taps !== cols.length) continue;
    const prior = readSolution(model.graph, node).w;
    writeSolution(model.graph, node, solveLayer(s, { cols, ridge, intercept, prior }), intercept);
  }
  dropUnusedInitializers(model.graph);
}

/** Scans every group at every level. */
export async function scanSensitivity(input: ScanInput): Promise<SensitivityRow[]> {
  const rows: SensitivityRow[] = [];
  const total = input.groups.length * input.levels.length;
  const dtypes = new Map([...input.analysis.shapes].map(([k, v]) => [k, v.dtype]));
  for (const vi of input.original.graph.inputs)
    if (vi.type?.kind === 'tensor' && vi.type.elemType) dtypes.set(vi.name, vi.type.elemType);
  let done = 0;
  for (const group of input.groups) {
    const points: SensitivityPoint[] = [];
    const choose = (remove: number) =>
      selectChannels({
        graph: input.original.graph,
        analysis: input.analysis,
        group,
        remove,
        importance: input.importance,
        stats: input.stats,
        ridge: input.ridge,
      });
    const frontier = frontierOf(input.original.graph, group.nodes);
    const feeds = await frontierValues(input.original, frontier, input.data, dtypes);
    // Candidates are cut from the changed part alone; its inputs take their dims from the analysis.
    const suffix = suffixModel(input.original, frontier, dtypes);
    const suffixDims = Object.fromEntries(
      frontier.inputs.map((t) => [t, input.analysis.shapes.get(t)?.dims ?? input.inputDims[t] ?? []]),
    );
    // With one block, removal is nested: the choice for the largest
    // ratio, cut short, is the choice for each smaller one.
    const multiple = groupMultiple(input.original.graph, group, input.channelMultiple ?? 1);
    const removal = (r: number) => removalCount(group.channels, group.blocks, r, multiple);
    const most = Math.max(...input.levels.map(removal));
    const nested = group.blocks === 1 && most > 0 ? choose(most) : undefined;
    const order = nested?.removed;
    const measured = new Set<number>();
    for (const ratio of input.levels) {
      done++;
      const remove = removal(ratio);
      // Rounding to a channel multiple maps neighbouring levels to one count: measure it once.
      if (remove === 0 || measured.has(remove)) continue;
      measured.add(remove);
      const candidate = loadModel(writeModel(suffix), { verify: false });
      const gone = new Set(order?.slice(0, remove));
      const kept = order
        ? Array.from({ length: group.channels }, (_x, i) => i).filter((c) => !gone.has(c))
        : choose(remove).kept;
      applyCut(candidate.graph, input.analysis, new Map([[group.id, kept]]), suffixDims, { partial: true });
      if (input.refit && group.consumers.every((c) => input.stats.has(c)))
        refitFromOriginalStats(candidate, input.analysis, group, kept, input.stats, input.ridge);
      const f = compareOutputs(input.reference, await runSuffix(candidate, feeds, input.reference));
      points.push({
        ratio,
        kept: kept.length,
        cosine: f.cosine,
        drop: Math.max(0, 1 - f.cosine),
        agreement: f.agreement,
      });
      input.onProgress?.({ pass: 'sensitivity', done, total, what: `${group.name} at ${ratio}` });
    }
    rows.push({
      group: group.name,
      id: group.id,
      channels: group.channels,
      measure: 'output',
      points,
      ...(nested ? { order: nested.removed, method: nested.method } : {}),
    });
  }
  return rows;
}

/**
 * The closed-form scan: for each group, the share of its consumers' output variance that
 * their least-squares refit cannot recover at each ratio, priced along the importance's own
 * removal order (eliminate() downdates the consumers' inverses removal by removal). No model
 * runs, so it suits large models; it sees one layer ahead, where the output scan sees the
 * whole model.
 */
export function scanLayerSensitivity(input: Omit<ScanInput, 'reference' | 'data' | 'refit'>): SensitivityRow[] {
  const rows: SensitivityRow[] = [];
  input.groups.forEach((group, gi) => {
    const base: SelectionInput = {
      graph: input.original.graph,
      analysis: input.analysis,
      group,
      remove: 0,
      importance: input.importance,
      stats: input.stats,
      ridge: input.ridge,
    };
    const { nodes, stats } = consumersWithStats(base);
    const multiple = groupMultiple(input.original.graph, group, input.channelMultiple ?? 1);
    const counts = input.levels.map((r) => removalCount(group.channels, group.blocks, r, multiple));
    const most = Math.max(0, ...counts);
    const priced = (remove: number, order?: readonly number[]) =>
      eliminate({ ...base, remove }, nodes, stats, order ?? selectChannels({ ...base, remove }).removed);
    const single =
      group.blocks === 1 && most > 0
        ? input.importance === 'reconstruction'
          ? eliminate({ ...base, remove: most }, nodes, stats)
          : priced(most)
        : undefined;
    const points: SensitivityPoint[] = [];
    input.levels.forEach((ratio, li) => {
      const remove = counts[li] as number;
      if (remove === 0 || counts.indexOf(remove) < li) return;
      const curve = single?.curve ?? priced(remove).curve;
      points.push({
        ratio,
        kept: group.channels - remove,
        drop: curve[remove - 1] ?? 0,
        cosine: null,
        agreement: null,
      });
    });
    const method =
      input.importance === 'reconstruction' && single?.approximated.length
        ? `reconstruction (activation score for ${single.approximated.join(', ')}: too wide or grouped)`
        : input.importance;
    rows.push({
      group: group.name,
      id: group.id,
      channels: group.channels,
      measure: 'layer',
      points,
      ...(single ? { order: single.order, method } : {}),
    });
    input.onProgress?.({
      pass: 'sensitivity',
      done: gi + 1,
      total: input.groups.length,
      what: `${group.name} (layer error)`,
    });
  });
  return rows;
}

/**
 * A global target: fractions of the original to keep (all that are given must hold): MACs,
 * parameters, or channels of the prunable groups (`channels: 0.75` removes a quarter of them,
 * spread by sensitivity rather than evenly).
 */
export interface PruneTarget {
  readonly macs?: number | undefined;
  readonly params?: number | undefined;
  readonly channels?: number | undefined;
}

/** What a configuration costs, in the target's measures. */
export interface Cost {
  readonly params: number;
  readonly macs: number;
  readonly channels: number;
}

/** Estimated cost of a configuration (kept fraction per group id). */
export type CostModel = (kept: ReadonlyMap<number, number>) => Cost;

const MEASURES = ['macs', 'params', 'channels'] as const;
const WORDS: Record<(typeof MEASURES)[number], string> = {
  macs: 'of the MACs',
  params: 'of the parameters',
  channels: 'of the prunable channels',
};

/** How far a configuration is from the target (sum of the relative excesses; 0 when it is met). */
function excess(target: PruneTarget, c: Cost, base: Cost): number {
  let e = 0;
  for (const m of MEASURES) {
    const t = target[m];
    if (t !== undefined && base[m] > 0) e += Math.max(0, c[m] / base[m] - t - 1e-9);
  }
  return e;
}

/**
 * Ratios per group id meeting `target` under `cost`, raising the cheapest step first (least
 * fidelity lost per unit of excess removed). Throws EF_ERR_PRUNE_TARGET when even the largest
 * scanned ratio of every group misses it.
 */
export function allocateRatios(
  rows: readonly SensitivityRow[],
  cost: CostModel,
  base: Cost,
  target: PruneTarget,
): Map<number, number> {
  const level = new Map<number, number>(rows.map((r) => [r.id, -1]));
  const keptFraction = (lv: ReadonlyMap<number, number>): Map<number, number> =>
    new Map(
      rows.map((r) => [
        r.id,
        (lv.get(r.id) ?? -1) < 0 ? 1 : (r.points[lv.get(r.id) as number]?.kept ?? r.channels) / r.channels,
      ]),
    );
  const floor = cost(keptFraction(new Map(rows.map((r) => [r.id, r.points.length - 1]))));
  if (excess(target, floor, base) > 0) {
    const reach = MEASURES.filter((m) => target[m] !== undefined)
      .map((m) => `${((floor[m] / base[m]) * 100).toFixed(1)}% ${WORDS[m]}`)
      .join(' and ');
    throw new EdgefleetError(
      'EF_ERR_PRUNE_TARGET',
      `no configuration reaches the target (${describeTarget(target)}): with every prunable group at its largest ` +
        `scanned ratio the model keeps ${reach}; allow larger ratios (levels) or aim lower`,
      { target, reachable: Object.fromEntries(MEASURES.map((m) => [m, floor[m] / base[m]])) },
    );
  }
  let gap = excess(target, cost(keptFraction(level)), base);
  while (gap > 0) {
    let best: { id: number; to: number; score: number; gap: number } | undefined;
    for (const r of rows) {
      const at = level.get(r.id) ?? -1;
      const dropNow = at < 0 ? 0 : (r.points[at]?.drop ?? 0);
      for (let to = at + 1; to < r.points.length; to++) {
        const after = excess(target, cost(keptFraction(new Map(level).set(r.id, to))), base);
        if (after >= gap) continue;
        // The epsilon makes free steps prefer the larger saving.
        const score = (Math.max(0, (r.points[to]?.drop ?? 0) - dropNow) + 1e-12) / (gap - after);
        if (!best || score < best.score) best = { id: r.id, to, score, gap: after };
      }
    }
    if (!best) break;
    level.set(best.id, best.to);
    gap = best.gap;
  }
  return new Map(
    rows.map((r) => [r.id, (level.get(r.id) ?? -1) < 0 ? 0 : (r.points[level.get(r.id) as number]?.ratio ?? 0)]),
  );
}

/** "50.0% of the MACs and 25.0% of the parameters". */
export function describeTarget(t: PruneTarget): string {
  return MEASURES.filter((m) => t[m] !== undefined)
    .map((m) => `${((t[m] as number) * 100).toFixed(1)}% ${WORDS[m]}`)
    .join(' and ');
}
