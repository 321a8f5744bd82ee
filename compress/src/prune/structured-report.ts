/**
 * The pieces of structured pruning around the cut (structured.ts does the cut): the report with
 * groups, per-layer table, sensitivity scan and fidelity; the check of a pruned model against the
 * original, which refuses a result that computes something else; and adopting a checked copy.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { Dataset } from '../data/tensor.js';
import type { Graph, Model } from '../ir/index.js';
import type { ChannelAnalysis } from './channel-graph.js';
import { compareOutputs, runOutputs, type Outputs } from './fidelity.js';
import type { Importance } from './importance.js';
import { layerTable } from './layer-table.js';
import type { PruneReport } from './report.js';
import type { PruneTarget, SensitivityRow } from './sensitivity.js';

export interface ReportInput {
  readonly original: Model;
  readonly work: Model;
  readonly analysis: ChannelAnalysis;
  readonly kept: ReadonlyMap<number, readonly number[]>;
  readonly ratios: ReadonlyMap<number, number>;
  readonly methods: ReadonlyMap<number, string>;
  readonly importance: Importance;
  readonly scan: SensitivityRow[] | null;
  readonly keptOutputs: ReadonlyMap<string, readonly number[]>;
  readonly dims1: Readonly<Record<string, readonly number[]>>;
  readonly check?: Dataset;
  readonly reference?: Outputs;
  readonly target: PruneTarget | null;
  readonly beforeRefit: ReadonlyMap<string, number>;
}

/** The report of a structured cut: groups, the per-layer table, the scan and the check against the original. */
export async function buildReport(r: ReportInput): Promise<PruneReport> {
  const table = await layerTable(r.original, r.work, {
    inputDims: r.dims1,
    keptOutputs: r.keptOutputs,
    beforeRefit: r.beforeRefit,
    ...(r.check ? { data: r.check } : {}),
  });
  const fidelity = r.check ? await checkAgainstOriginal(r.original, r.work, r.check, r.reference) : null;
  return {
    kind: 'structured',
    importance: r.importance,
    target: r.target ? { ...r.target } : null,
    groups: r.analysis.groups.map((g) => ({
      name: g.name,
      channels: g.channels,
      kept: r.kept.get(g.id)?.length ?? g.channels,
      ratio: r.ratios.get(g.id) ?? 0,
      prunable: g.prunable,
      ...(g.reason ? { reason: g.reason } : {}),
      ...(r.methods.has(g.id) ? { method: r.methods.get(g.id) } : {}),
      nodes: g.nodes.length,
    })),
    layers: table.layers,
    totals: table.totals,
    fidelity,
    sensitivity:
      r.scan?.map((row) => ({
        group: row.group,
        measure: row.measure,
        points: row.points.map(({ ratio, kept, drop, cosine, agreement }) => ({
          ratio,
          kept,
          drop,
          cosine,
          agreement,
        })),
      })) ?? null,
    reconstructed: r.beforeRefit.size > 0,
  };
}

/**
 * The outputs of `pruned` against `original` on `data`; a changed
 * shape or a non-finite value is an error, never a result.
 */
export async function checkAgainstOriginal(
  original: Model,
  pruned: Model,
  data: Dataset,
  reference?: Outputs,
): Promise<{ samples: number; cosine: number; agreement: number }> {
  const f = compareOutputs(reference ?? (await runOutputs(original, data)), await runOutputs(pruned, data));
  if (f.problem)
    throw new EdgefleetError(
      'EF_ERR_COMPRESS_FAILED',
      `the pruned model does not compute the original's outputs: ${f.problem}`,
      {
        problem: f.problem,
      },
    );
  return { samples: f.samples, cosine: f.cosine, agreement: f.agreement };
}

/**
 * Makes `target` hold what `source` holds (nodes, initializers, value infos, inputs, outputs):
 * pruning works on a copy and the pipeline's graph only changes once the copy checked out.
 */
export function adoptGraph(target: Graph, source: Graph): void {
  for (const node of [...target.nodes]) target.removeNode(node);
  for (const name of [...target.initializers.keys()]) target.removeInitializer(name);
  target.valueInfo.clear();
  target.inputs = source.inputs.map((vi) => ({ ...vi }));
  target.outputs = source.outputs.map((vi) => ({ ...vi }));
  for (const t of source.initializers.values()) target.addInitializer(t);
  for (const vi of source.valueInfo.values()) target.setValueInfo(vi);
  for (const node of source.nodes)
    target.addNode({
      opType: node.opType,
      name: node.name,
      domain: node.domain,
      inputs: node.inputs,
      outputs: node.outputs,
      attributes: node.attributes,
      docString: node.docString,
    });
}
