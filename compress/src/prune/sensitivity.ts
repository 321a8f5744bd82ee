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
import { loadModel, writeModel, type Model, type Node } from '../ir/index.js';
import type { Progress } from '../passes/types.js';
import { applyCut } from './apply.js';
import type { ChannelAnalysis, ChannelGroup } from './channel-graph.js';
import { compareOutputs, runOutputs, type Outputs } from './fidelity.js';
import { selectChannels, type Importance } from './importance.js';
import { keptAlongAxis } from './layout.js';
import { solveLayer } from './least-squares.js';
import { hasBiasSlot, writeSolution } from './layer-weights.js';
import type { LayerStats } from './probe.js';
import { dropUnusedInitializers, floatInit, numel } from '../passes/util.js';

/** One (group, ratio) measurement. */
export interface SensitivityPoint {
  readonly ratio: number;
  readonly kept: number;
  /** Output cosine to the original with only this group pruned. */
  readonly cosine: number;
  /** 1 − cosine: what the allocation minimises. */
  readonly drop: number;
  readonly agreement: number;
}

/** Measurements of one group. */
export interface SensitivityRow {
  readonly group: string;
  readonly id: number;
  readonly channels: number;
  readonly points: readonly SensitivityPoint[];
}

/** Channels removed from a group of `channels` at `ratio`, in whole multiples of its blocks, keeping one per block. */
export function removalCount(channels: number, blocks: number, ratio: number): number {
  const per = channels / blocks;
  const perBlock = Math.min(per - 1, Math.round(ratio * per));
  return Math.max(0, perBlock) * blocks;
}

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
): void {
  const nodes = new Map(model.graph.nodes.map((n) => [n.name, n]));
  for (const name of group.consumers) {
    const node = nodes.get(name) as Node;
    const s = stats.get(name);
    const layout = analysis.layouts.get(node.inputs[0] ?? '');
    const w = floatInit(model.graph, node.inputs[1]);
    if (!s || !layout || !w) continue;
    const taps = node.opType === 'Conv' ? numel(w.dims.slice(2)) : 1;
    const idx = keptAlongAxis(layout, (sp) => (analysis.rootOf(sp) === group.id ? kept : undefined));
    const cols = idx.flatMap((c) => Array.from({ length: taps }, (_x, t) => c * taps + t));
    const intercept = hasBiasSlot(model.graph, node);
    if (node.opType === 'Conv' && (w.dims[1] ?? 0) * taps !== cols.length) continue;
    writeSolution(model.graph, node, solveLayer(s, { cols, ridge, intercept }), intercept);
  }
  dropUnusedInitializers(model.graph);
}

/** Scans every group at every level. */
export async function scanSensitivity(input: ScanInput): Promise<SensitivityRow[]> {
  const rows: SensitivityRow[] = [];
  const total = input.groups.length * input.levels.length;
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
    // With one block, removal is nested: the choice for the largest ratio, cut short, is the choice for each smaller one.
    const most = Math.max(...input.levels.map((r) => removalCount(group.channels, group.blocks, r)));
    const order = group.blocks === 1 && most > 0 ? choose(most).removed : undefined;
    for (const ratio of input.levels) {
      done++;
      const remove = removalCount(group.channels, group.blocks, ratio);
      if (remove === 0) continue;
      const candidate = loadModel(writeModel(input.original));
      const gone = new Set(order?.slice(0, remove));
      const kept = order
        ? Array.from({ length: group.channels }, (_x, i) => i).filter((c) => !gone.has(c))
        : choose(remove).kept;
      applyCut(candidate.graph, input.analysis, new Map([[group.id, kept]]), input.inputDims);
      if (input.refit && group.consumers.every((c) => input.stats.has(c)))
        refitFromOriginalStats(candidate, input.analysis, group, kept, input.stats, input.ridge);
      const f = compareOutputs(input.reference, await runOutputs(candidate, input.data));
      points.push({
        ratio,
        kept: kept.length,
        cosine: f.cosine,
        drop: Math.max(0, 1 - f.cosine),
        agreement: f.agreement,
      });
      input.onProgress?.({ pass: 'sensitivity', done, total, what: `${group.name} at ${ratio}` });
    }
    rows.push({ group: group.name, id: group.id, channels: group.channels, points });
  }
  return rows;
}

/** A global target: fractions of the original to keep (both must hold when both are given). */
export interface PruneTarget {
  readonly macs?: number | undefined;
  readonly params?: number | undefined;
}

/** Estimated cost of a configuration (kept fraction per group id). */
export type CostModel = (kept: ReadonlyMap<number, number>) => { params: number; macs: number };

function meets(
  target: PruneTarget,
  c: { params: number; macs: number },
  base: { params: number; macs: number },
): boolean {
  return (
    (target.macs === undefined || c.macs <= target.macs * base.macs + 1e-9) &&
    (target.params === undefined || c.params <= target.params * base.params + 1e-9)
  );
}

/** How far a configuration is from the target (sum of the relative excesses). */
function excess(
  target: PruneTarget,
  c: { params: number; macs: number },
  base: { params: number; macs: number },
): number {
  const m = target.macs === undefined ? 0 : Math.max(0, c.macs / base.macs - target.macs);
  const p = target.params === undefined ? 0 : Math.max(0, c.params / base.params - target.params);
  return m + p;
}

/**
 * Ratios per group id meeting `target` under `cost`, raising the cheapest step first.
 * Throws EF_ERR_PRUNE_TARGET when even the largest scanned ratio of every group misses it.
 */
export function allocateRatios(
  rows: readonly SensitivityRow[],
  cost: CostModel,
  base: { params: number; macs: number },
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
  const most = new Map(rows.map((r) => [r.id, r.points.length - 1]));
  const floor = cost(keptFraction(most));
  if (!meets(target, floor, base))
    throw new EdgefleetError(
      'EF_ERR_PRUNE_TARGET',
      `no configuration reaches the target: with every prunable group at its largest ratio the model keeps ${((floor.macs / base.macs) * 100).toFixed(1)}% of its MACs and ${((floor.params / base.params) * 100).toFixed(1)}% of its parameters (target ${describeTarget(target)}); allow larger ratios (levels) or aim lower`,
      { target, reachable: { macs: floor.macs / base.macs, params: floor.params / base.params } },
    );
  let current = cost(keptFraction(level));
  while (!meets(target, current, base)) {
    let best: { id: number; to: number; score: number } | undefined;
    const gap = excess(target, current, base);
    for (const r of rows) {
      const at = level.get(r.id) ?? -1;
      const dropNow = at < 0 ? 0 : (r.points[at]?.drop ?? 0);
      for (let to = at + 1; to < r.points.length; to++) {
        const trial = new Map(level).set(r.id, to);
        const gain = gap - excess(target, cost(keptFraction(trial)), base);
        if (gain <= 0) continue;
        // The epsilon makes free steps prefer the larger saving.
        const score = (Math.max(0, (r.points[to]?.drop ?? 0) - dropNow) + 1e-12) / gain;
        if (!best || score < best.score) best = { id: r.id, to, score };
      }
    }
    if (!best) break;
    level.set(best.id, best.to);
    current = cost(keptFraction(level));
  }
  return new Map(
    rows.map((r) => [r.id, (level.get(r.id) ?? -1) < 0 ? 0 : (r.points[level.get(r.id) as number]?.ratio ?? 0)]),
  );
}

export function describeTarget(t: PruneTarget): string {
  return [
    ...(t.macs === undefined ? [] : [`${(t.macs * 100).toFixed(1)}% of the MACs`]),
    ...(t.params === undefined ? [] : [`${(t.params * 100).toFixed(1)}% of the parameters`]),
  ].join(' and ');
}
