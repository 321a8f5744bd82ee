/**
 * `prune-structured`: removes whole channels (Conv filters, Gemm/MatMul neurons) in dependency
 * groups, sized by a ratio per group or by a global target from a sensitivity scan, and chosen
 * by an importance criterion (prune/structured.ts does the work). The cut happens on a copy; the
 * pipeline's graph changes only when the copy passed its check against the original on the
 * calibration data. Groups the analysis could not follow are reported, node and reason, and left
 * whole. A `reconstruct` step later in the recipe refits the layers after the cut.
 */
import { isEdgefleetError } from '@edgefleet/shared';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/types.js';
import type { Importance } from '../prune/importance.js';
import type { PruneReport } from '../prune/report.js';
import type { PruneTarget, ScanMeasure } from '../prune/sensitivity.js';
import { adoptGraph, pruneStructured, type StructuredOptions } from '../prune/structured.js';
import { refused, type NodeNote, type Pass, type PassContext, type PassReport } from './types.js';
import { quantizedOpsIn } from './util.js';

/** Key of the structured pruning's hand-off to `reconstruct` in {@link PassContext.handoff}. */
export const PRUNE_HANDOFF = 'prune-structured';

/** Options of the pass (the recipe's `options`). */
export interface PruneStructuredPassOptions {
  readonly ratio?: number;
  readonly ratios?: Readonly<Record<string, number>>;
  readonly target?: PruneTarget;
  readonly importance?: Importance;
  readonly ridge?: number;
  readonly levels?: readonly number[];
  readonly scan?: ScanMeasure;
  readonly refitInScan?: boolean;
  readonly checkSamples?: number;
  readonly scanSamples?: number;
  readonly channelMultiple?: number;
}

/** Why a model cannot go through a pruning pass as it is, or undefined. */
export function pruningPrecondition(graph: Graph, model: Model): string | undefined {
  if (quantizedOpsIn(graph).length > 0)
    return `the model is already quantized (${quantizedOpsIn(graph).join(', ')}); prune before quantizing`;
  if (graph.nodes.some((n) => n.attributes.some((a) => a.kind === 'graph' || a.kind === 'graphs')))
    return 'models with subgraphs (If, Loop, Scan) are not pruned';
  if (model.graph !== graph) return 'the pass runs on the root graph only';
  return undefined;
}

/** Notes for the compression report's per-layer table: each cut group, and each group left whole. */
export function groupNotes(report: PruneReport): { changed: NodeNote[]; skipped: NodeNote[] } {
  const changed: NodeNote[] = [];
  const skipped: NodeNote[] = [];
  for (const g of report.groups) {
    if (g.kept < g.channels)
      changed.push({
        node: g.name,
        opType: 'channels',
        precision: 'fp32',
        reason: `pruned ${g.channels} → ${g.kept} channels by ${g.method ?? report.importance}; ${g.nodes} nodes cut`,
      });
    else if (!g.prunable)
      skipped.push({ node: g.name, opType: 'channels', precision: 'fp32', reason: `left whole: ${g.reason ?? ''}` });
  }
  return { changed, skipped };
}

/** Summary numbers of a pruning report. */
export function pruneStats(report: PruneReport): Record<string, number> {
  const t = report.totals;
  return {
    groups: report.groups.length,
    groupsPruned: report.groups.filter((g) => g.kept < g.channels).length,
    groupsLeftWhole: report.groups.filter((g) => !g.prunable).length,
    paramsBefore: t.paramsBefore,
    paramsAfter: t.paramsAfter,
    macsBefore: t.macsBefore,
    macsAfter: t.macsAfter,
    ...(report.fidelity ? { outputCosine: report.fidelity.cosine, agreement: report.fidelity.agreement } : {}),
  };
}

/** Create the pass. */
export function createPruneStructuredPass(opts: PruneStructuredPassOptions): Pass {
  return {
    name: 'prune-structured',
    async run(graph: Graph, ctx: PassContext): Promise<PassReport> {
      const why = pruningPrecondition(graph, ctx.model);
      if (why) return refused('prune-structured', why);
      const options: StructuredOptions = {
        ...opts,
        exclude: ctx.exclude,
        ...(ctx.calibData ? { data: ctx.calibData } : {}),
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      };
      let outcome: Awaited<ReturnType<typeof pruneStructured>>;
      try {
        outcome = await pruneStructured(ctx.model, options);
      } catch (err: unknown) {
        // Bad options and unreachable targets keep their own codes; the graph is untouched.
        if (isEdgefleetError(err)) throw err;
        return refused('prune-structured', `pruning failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      adoptGraph(graph, outcome.model.graph);
      ctx.handoff?.set(PRUNE_HANDOFF, outcome.handoff);
      ctx.handoff?.set(`${PRUNE_HANDOFF}:report`, outcome.report);
      const r = outcome.report;
      const t = r.totals;
      const pruned = r.groups.filter((g) => g.kept < g.channels).length;
      return {
        pass: 'prune-structured',
        ok: true,
        summary:
          `${pruned} of ${r.groups.length} channel groups pruned ` +
          `(${r.groups.filter((g) => !g.prunable).length} left whole); params ${pct(t.paramsAfter, t.paramsBefore)}, ` +
          `MACs ${pct(t.macsAfter, t.macsBefore)}` +
          `${r.fidelity ? `, output cosine ${r.fidelity.cosine.toFixed(4)}` : ''}`,
        ...groupNotes(r),
        stats: pruneStats(r),
        pruning: r,
      };
    },
  };
}

export function pct(after: number, before: number): string {
  return `${before === 0 ? 100 : ((after / before) * 100).toFixed(1)}%`;
}
