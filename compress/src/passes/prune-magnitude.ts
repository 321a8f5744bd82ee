/**
 * `prune-magnitude`: unstructured sparsity (prune/magnitude.ts), per layer or global. The
 * report gives each layer's zeros, the model's sparsity and its gzip size (what a compressed
 * deployment carries), MACs unchanged (dense kernels skip nothing), and, with calibration data,
 * the outputs' fidelity to the unpruned model.
 */
import { gzipSync } from 'node:zlib';
import { isEdgefleetError } from '@edgefleet/shared';
import type { Graph } from '../ir/graph.js';
import { writeModel } from '../ir/index.js';
import { firstSamples } from '../prune/fidelity.js';
import { layerTable } from '../prune/layer-table.js';
import { pruneMagnitude, type MagnitudeOptions } from '../prune/magnitude.js';
import type { PruneReport } from '../prune/report.js';
import { adoptGraph, checkAgainstOriginal, cloneModel, inputDimsOf } from '../prune/structured.js';
import { pct, pruningPrecondition } from './prune-structured.js';
import { refused, type Pass, type PassContext, type PassReport } from './types.js';
import { dropUnusedInitializers } from './util.js';

/** Options of the pass. */
export type PruneMagnitudePassOptions = Omit<MagnitudeOptions, 'exclude'>;

/** Create the pass. */
export function createPruneMagnitudePass(opts: PruneMagnitudePassOptions): Pass {
  return {
    name: 'prune-magnitude',
    async run(graph: Graph, ctx: PassContext): Promise<PassReport> {
      const why = pruningPrecondition(graph, ctx.model);
      if (why) return refused('prune-magnitude', why);
      const original = cloneModel(ctx.model);
      const work = cloneModel(ctx.model);
      let notes: ReturnType<typeof pruneMagnitude>;
      try {
        notes = pruneMagnitude(work.graph, { ...opts, exclude: ctx.exclude });
      } catch (err: unknown) {
        if (isEdgefleetError(err)) throw err;
        return refused('prune-magnitude', `pruning failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      dropUnusedInitializers(work.graph);
      const check = ctx.calibData ? firstSamples(ctx.calibData, 256) : undefined;
      const fidelity = check ? await checkAgainstOriginal(original, work, check) : null;
      // Without data and with symbolic input dims the table still counts parameters (MACs then read 0).
      let dims: Record<string, number[]> = {};
      try {
        dims = inputDimsOf(work, ctx.calibData, 1);
      } catch {}
      const table = await layerTable(original, work, {
        inputDims: dims,
        keptOutputs: new Map(),
        ...(check ? { data: check } : {}),
      });
      const byNode = new Map(notes.map((n) => [n.node, n]));
      const layers = table.layers.map((l) => {
        const n = byNode.get(l.node);
        return n ? { ...l, paramsAfter: l.paramsAfter - n.zeros } : l;
      });
      const zeros = notes.reduce((s, n) => s + n.zeros, 0);
      const weights = notes.reduce((s, n) => s + n.weights, 0);
      adoptGraph(graph, work.graph);
      const gzipBytes = gzipSync(writeModel(ctx.model)).length;
      const report: PruneReport = {
        kind: 'magnitude',
        importance: `magnitude (${opts.scope ?? 'layer'})`,
        target: null,
        groups: [],
        layers,
        totals: { ...table.totals, paramsAfter: table.totals.paramsAfter - zeros },
        fidelity,
        sensitivity: null,
        reconstructed: false,
        sparsity: { zeros, weights, gzipBytes },
      };
      return {
        pass: 'prune-magnitude',
        ok: true,
        summary:
          `${pct(zeros, weights)} of the weights of ${notes.length} layers set to zero; gzip ${gzipBytes} ` +
          `bytes; MACs unchanged (dense kernels)${fidelity ? `; output cosine ${fidelity.cosine.toFixed(4)}` : ''}`,
        changed: notes.map((n) => ({
          node: n.node,
          opType: n.opType,
          precision: 'fp32',
          reason: `${pct(n.zeros, n.weights)} of ${n.weights} weights are zero`,
        })),
        skipped: [],
        stats: {
          sparsity: weights === 0 ? 0 : zeros / weights,
          zeros,
          gzipBytes,
          ...(fidelity ? { outputCosine: fidelity.cosine, agreement: fidelity.agreement } : {}),
        },
        pruning: report,
      };
    },
  };
}
