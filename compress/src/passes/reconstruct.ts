/**
 * `reconstruct`: after `prune-structured`, refits every layer that lost input channels by ridge
 * least squares so its outputs match the original model's on the calibration data, layer by
 * layer from the activations of the model pruned and refit so far (prune/reconstruct.ts). It
 * needs the original model and the kept channels, which the pruning pass hands over; without a
 * pruning step before it, or without calibration data, it refuses and says why.
 */
import type { Graph } from '../ir/graph.js';
import { layerTable } from '../prune/layer-table.js';
import { reconstructLayers } from '../prune/reconstruct.js';
import type { PruneReport } from '../prune/report.js';
import { adoptGraph, checkAgainstOriginal, cloneModel, inputDimsOf, type PruneHandoff } from '../prune/structured.js';
import { firstSamples } from '../prune/fidelity.js';
import { groupNotes, pct, PRUNE_HANDOFF, pruneStats, pruningPrecondition } from './prune-structured.js';
import { refused, type Pass, type PassContext, type PassReport } from './types.js';
import { stripUndefined } from '@edgefleet/shared';

/** Options of the pass. */
export interface ReconstructPassOptions {
  /** λ as a fraction of the covariance's mean diagonal. Default 0.01. */
  readonly ridge?: number;
  /** Samples for the final checks. Default 256. */
  readonly checkSamples?: number;
}

/** Create the pass. */
export function createReconstructPass(opts: ReconstructPassOptions = {}): Pass {
  return {
    name: 'reconstruct',
    async run(graph: Graph, ctx: PassContext): Promise<PassReport> {
      const handoff = ctx.handoff?.get(PRUNE_HANDOFF) as PruneHandoff | undefined;
      const previous = ctx.handoff?.get(`${PRUNE_HANDOFF}:report`) as PruneReport | undefined;
      if (!handoff)
        return refused('reconstruct', 'nothing to reconstruct: put a prune-structured step before it in the recipe');
      if (!ctx.calibData) return refused('reconstruct', 'reconstruction needs calibration data; give --calib');
      const why = pruningPrecondition(graph, ctx.model);
      if (why) return refused('reconstruct', `${why} (reconstruct must follow prune-structured directly)`);
      const work = cloneModel(ctx.model);
      const notes = await reconstructLayers(work, handoff.original, handoff.consumers, handoff.keptOutputs, {
        data: ctx.calibData,
        ...stripUndefined({ ridge: opts.ridge }),
        ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      });
      const check = firstSamples(ctx.calibData, opts.checkSamples ?? 256);
      const fidelity = await checkAgainstOriginal(handoff.original, work, check);
      const table = await layerTable(handoff.original, work, {
        inputDims: inputDimsOf(work, ctx.calibData, 1),
        data: check,
        keptOutputs: handoff.keptOutputs,
        beforeRefit: new Map(notes.map((n) => [n.node, n.cosineBefore])),
      });
      adoptGraph(graph, work.graph);
      const report: PruneReport = {
        ...(previous ?? emptyReport()),
        layers: table.layers,
        totals: table.totals,
        fidelity,
        reconstructed: true,
      };
      const kept = notes.filter((n) => !n.written).map((n) => n.node);
      return {
        pass: 'reconstruct',
        ok: true,
        summary:
          `${notes.length - kept.length} layers refit by least squares (${kept.length} kept their cut ` +
          `weights); output cosine ${fidelity.cosine.toFixed(4)}, top-1 agreement ${pct(fidelity.agreement, 1)}`,
        changed: notes.map((n) => ({
          node: n.node,
          opType: n.opType,
          precision: 'fp32',
          reason: n.written
            ? `refit: layer output error ${pct(n.relErrorBefore, 1)} → ${pct(n.relErrorAfter, 1)}, ` +
              `cosine ${n.cosineBefore.toFixed(4)} → ${n.cosineAfter.toFixed(4)}`
            : `refit not written: it would not lower the layer's output error (${pct(n.relErrorBefore, 1)})`,
        })),
        skipped: groupNotes(report).skipped,
        stats: { ...pruneStats(report), refit: notes.length - kept.length },
        pruning: report,
      };
    },
  };
}

function emptyReport(): PruneReport {
  return {
    kind: 'structured',
    importance: 'unknown',
    target: null,
    groups: [],
    layers: [],
    totals: { paramsBefore: 0, paramsAfter: 0, macsBefore: 0, macsAfter: 0 },
    fidelity: null,
    sensitivity: null,
    reconstructed: true,
  };
}
