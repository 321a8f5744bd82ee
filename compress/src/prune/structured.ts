/**
 * Structured pruning as one call, for the pass and for callers that drive it themselves (the
 * search): analyse the channel groups, decide a ratio per group (given, or allocated under a
 * global target from a sensitivity scan), choose the channels by importance, cut them, refit
 * the next layers if asked, and check the result against the original on calibration data.
 * The input model is never changed; the result is a new model with a report.
 */
import { EdgefleetError } from '@edgefleet/shared';
import { sliceDataset, type Dataset } from '../data/tensor.js';
import { getOpsetVersion, loadModel, writeModel, type Graph, type Model } from '../ir/index.js';
import type { Exclusions, Progress } from '../passes/types.js';
import { applyCut } from './apply.js';
import { DEFAULT_RIDGE } from './least-squares.js';
import { analyzeChannels, type ChannelAnalysis, type ChannelGroup } from './channel-graph.js';
import { groupCostModel } from './cost.js';
import { firstSamples, runOutputs } from './fidelity.js';
import { selectChannels, type Importance } from './importance.js';
import { buildReport } from './structured-report.js';
import { collectLayerStats, type LayerStats } from './probe.js';
import { reconstructLayers } from './reconstruct.js';
import type { PruneReport } from './report.js';
import {
  allocateRatios,
  DEFAULT_CHANNEL_MULTIPLE,
  groupMultiple,
  removalCount,
  scanLayerSensitivity,
  scanSensitivity,
  type PruneTarget,
  type ScanMeasure,
  type SensitivityRow,
} from './sensitivity.js';

/** Options of {@link pruneStructured}. Exactly one way to size the cut: `ratio`/`ratios` or `target`. */
export interface StructuredOptions {
  /** Fraction of channels removed from every prunable group, in [0, 1). */
  readonly ratio?: number;
  /** Per group, by the name of any layer producing its channels; overrides `ratio` for those groups. */
  readonly ratios?: Readonly<Record<string, number>>;
  /** Fractions of the original to keep, e.g. `{macs: 0.5}`; ratios come from a sensitivity scan. */
  readonly target?: PruneTarget;
  /** Default `reconstruction` with data, `l2` without. */
  readonly importance?: Importance;
  /** Calibration data: needed by `activation`, `reconstruction`, `target` and `reconstruct`. */
  readonly data?: Dataset;
  /** Refit the layers after the cut right away (the recipe form runs a `reconstruct` pass instead). */
  readonly reconstruct?: boolean;
  /** Ridge λ as a fraction of the covariance's mean diagonal. Default {@link DEFAULT_RIDGE} (0.01). */
  readonly ridge?: number;
  /** Ratios the sensitivity scan tries. Default 0.125 … 0.75 in steps of 0.125. */
  readonly levels?: readonly number[];
  /**
   * How the sensitivity scan measures: `output` (default) runs the model once per group and
   * ratio and compares its outputs with the original's; `layer` prices each ratio by the refit
   * error of the group's next layers in closed form (no runs: for large models).
   */
  readonly scan?: ScanMeasure;
  /** Refit a group's consumers in the output scan (closed form, no extra pass). Default true. */
  readonly refitInScan?: boolean;
  /** Samples for the checks against the original (the first ones of `data`). Default 256. */
  readonly checkSamples?: number;
  /** Samples the output scan runs each candidate on (the first ones of `data`). Default 32. */
  readonly scanSamples?: number;
  /**
   * Each group a Conv reads keeps a multiple of this many channels (or all of them), whether sized
   * by ratios or by a target: counts the CPU kernels' blocked layout handles. Default
   * {@link DEFAULT_CHANNEL_MULTIPLE} (4); 1 allows any count, 16 matches AVX-512's block.
   */
  readonly channelMultiple?: number;
  readonly exclude?: Exclusions;
  readonly onProgress?: (p: Progress) => void;
}

/** What a later `reconstruct` pass needs from the pruning. */
export interface PruneHandoff {
  readonly original: Model;
  /** Layers whose inputs lost channels. */
  readonly consumers: readonly string[];
  /** Layers whose outputs lost channels, with the original output indices they kept. */
  readonly keptOutputs: ReadonlyMap<string, readonly number[]>;
}

/** The result of {@link pruneStructured}. */
export interface StructuredOutcome {
  readonly model: Model;
  readonly report: PruneReport;
  readonly handoff: PruneHandoff;
  readonly analysis: ChannelAnalysis;
}

export const DEFAULT_LEVELS: readonly number[] = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75];

/** A deep copy through the writer (what every pass result goes through anyway). */
export function cloneModel(model: Model): Model {
  return loadModel(writeModel(model), { verify: false });
}

/** Gives every node a unique, non-empty name (groups and refits are addressed by name). */
export function ensureNodeNames(graph: Graph): void {
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    if (node.name === '' || seen.has(node.name)) node.name = graph.freshName(`${node.opType}_node`);
    seen.add(node.name);
  }
}

/** Concrete input dims at `batch`: from the data, else from the model with the batch dim set. */
export function inputDimsOf(model: Model, data: Dataset | undefined, batch: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const vi of model.graph.inputs) {
    if (model.graph.initializers.has(vi.name)) continue;
    const fromData =
      data?.inputs[vi.name]?.dims ??
      (model.graph.inputs.length === 1 ? Object.values(data?.inputs ?? {})[0]?.dims : undefined);
    const declared = vi.type?.kind === 'tensor' ? vi.type.shape : undefined;
    const dims = fromData ? [...fromData] : declared?.map((d) => (typeof d === 'number' ? d : -1));
    if (!dims || dims.slice(1).some((d) => d < 0))
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `input ${vi.name} has no fixed shape; pruning needs calibration data (--calib) or --shape ${vi.name}=…`,
        { input: vi.name },
      );
    dims[0] = batch;
    out[vi.name] = dims;
  }
  return out;
}

function ratioError(what: string, value: unknown): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_PRUNE_RATIO',
    `${what} is ${String(value)}; ratios must lie in [0, 1) and targets in (0, 1]`,
    {
      [what]: value,
    },
  );
}

/** Ratio per group id from `ratio`/`ratios`, with every name and value checked first. */
export function ratiosFromOptions(groups: readonly ChannelGroup[], opts: StructuredOptions): Map<number, number> {
  const ok = (r: unknown): r is number => typeof r === 'number' && r >= 0 && r < 1;
  if (opts.ratio !== undefined && !ok(opts.ratio)) throw ratioError('ratio', opts.ratio);
  const out = new Map<number, number>();
  for (const g of groups) if (g.prunable) out.set(g.id, opts.ratio ?? 0);
  for (const [layer, r] of Object.entries(opts.ratios ?? {})) {
    if (!ok(r)) throw ratioError(`ratio of ${layer}`, r);
    const g = groups.find((x) => x.producers.includes(layer));
    if (!g) {
      const names = groups.filter((x) => x.prunable).map((x) => x.name);
      throw new EdgefleetError(
        'EF_ERR_PRUNE_LAYER',
        `no layer ${layer} produces prunable channels in this model; prunable groups: ` +
          `${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}`,
        { layer, groups: names },
      );
    }
    if (!g.prunable)
      throw new EdgefleetError(
        'EF_ERR_PRUNE_LAYER',
        `layer ${layer} cannot be pruned: ${g.reason ?? 'unknown reason'}`,
        {
          layer,
          reason: g.reason,
        },
      );
    out.set(g.id, r);
  }
  return out;
}

function checkOptions(opts: StructuredOptions): Importance {
  const sized = opts.ratio !== undefined || opts.ratios !== undefined;
  if (sized === (opts.target !== undefined))
    throw new EdgefleetError(
      'EF_ERR_PRUNE_RATIO',
      'give either ratio/ratios or a target (e.g. {"macs": 0.5}), not both or neither',
      {},
    );
  const m = opts.channelMultiple;
  if (m !== undefined && !(Number.isInteger(m) && m >= 1 && m <= 256))
    throw new EdgefleetError(
      'EF_ERR_PRUNE_RATIO',
      `channelMultiple is ${String(m)}; it must be a whole number of channels from 1 to 256 (1: any count)`,
      { channelMultiple: m },
    );
  for (const [k, v] of Object.entries(opts.target ?? {}))
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw ratioError(`target ${k}`, v);
  if (opts.target && Object.values(opts.target).every((v) => v === undefined))
    throw new EdgefleetError('EF_ERR_PRUNE_RATIO', 'a target names macs, params or channels (fractions to keep)', {});
  const importance = opts.importance ?? (opts.data ? 'reconstruction' : 'l2');
  const needsData = importance === 'activation' || importance === 'reconstruction' || opts.target || opts.reconstruct;
  if (needsData && !opts.data)
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `pruning with ${opts.target ? 'a target' : opts.reconstruct ? 'reconstruction' : `${importance} importance`} ` +
        `needs calibration data; give --calib (e.g. mnist:512 or a sample directory)`,
      {},
    );
  return importance;
}

/** Prunes whole channels of `model` (not changed) and returns the pruned copy with its report. */
export async function pruneStructured(model: Model, opts: StructuredOptions): Promise<StructuredOutcome> {
  const importance = checkOptions(opts);
  const work = cloneModel(model);
  ensureNodeNames(work.graph);
  const original = cloneModel(work);
  const dims2 = inputDimsOf(work, opts.data, 2);
  const dims1 = inputDimsOf(work, opts.data, 1);
  const analysis = analyzeChannels(
    work.graph,
    dims2,
    getOpsetVersion(work, '') ?? 13,
    opts.exclude ? { exclude: opts.exclude } : {},
  );
  const prunable = analysis.groups.filter((g) => g.prunable);
  const ridge = opts.ridge ?? DEFAULT_RIDGE;
  const check = opts.data ? firstSamples(opts.data, opts.checkSamples ?? 256) : undefined;
  const { fitData, heldOut } = splitHeldOut(opts);
  const needStats = importance === 'activation' || importance === 'reconstruction' || opts.target !== undefined;
  const stats: Map<string, LayerStats> | undefined =
    needStats && fitData
      ? await collectLayerStats({
          current: original,
          layers: [...new Set(prunable.flatMap((g) => g.consumers))],
          data: fitData,
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        })
      : undefined;
  const base = { original, analysis, prunable, importance, ridge, opts, ...(stats ? { stats } : {}) };
  const { ratios, scan } = await sizeGroups({ ...base, dims1, dims2, check, heldOut });
  const { kept, methods } = chooseChannels({ ...base, ratios, scan });
  applyCut(work.graph, analysis, kept, dims2);
  const cut = prunable.filter((g) => kept.has(g.id));
  const handoff: PruneHandoff = {
    original,
    consumers: [...new Set(cut.flatMap((g) => g.consumers))],
    keptOutputs: new Map(cut.flatMap((g) => g.producers.map((p) => [p, kept.get(g.id) as number[]] as const))),
  };
  const refit =
    opts.reconstruct && opts.data
      ? await reconstructLayers(work, original, handoff.consumers, handoff.keptOutputs, {
          data: opts.data,
          ridge,
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        })
      : [];
  const report = await buildReport({
    original,
    work,
    analysis,
    kept,
    ratios,
    methods,
    importance,
    scan,
    keptOutputs: handoff.keptOutputs,
    dims1,
    ...(check ? { check } : {}),
    target: opts.target ?? null,
    beforeRefit: new Map(refit.map((n) => [n.node, n.cosineBefore])),
  });
  return { model: work, report, handoff, analysis };
}

/**
 * With data to spare, the output scan measures on samples the statistics never saw (the last
 * `scanSamples`): a group whose consumers' refit only fits the calibration rows (too few rows
 * for their columns) must not look cheap.
 */
function splitHeldOut(opts: StructuredOptions): { fitData: Dataset | undefined; heldOut: Dataset | undefined } {
  const scanCount = opts.scanSamples ?? 32;
  const heldOut =
    opts.target && opts.scan !== 'layer' && opts.data && opts.data.count >= 4 * scanCount
      ? sliceDataset(opts.data, opts.data.count - scanCount, opts.data.count)
      : undefined;
  const fitData = heldOut && opts.data ? sliceDataset(opts.data, 0, opts.data.count - scanCount) : opts.data;
  return { fitData, heldOut };
}

function channelMultipleOf(opts: StructuredOptions): number {
  return opts.channelMultiple ?? DEFAULT_CHANNEL_MULTIPLE;
}

/** What sizing and choosing the cut share. */
interface CutInput {
  readonly original: Model;
  readonly analysis: ChannelAnalysis;
  readonly prunable: readonly ChannelGroup[];
  readonly importance: Importance;
  readonly ridge: number;
  readonly opts: StructuredOptions;
  readonly stats?: Map<string, LayerStats>;
}

/** Ratio per group: allocated under the target from a sensitivity scan, or as the options give them. */
async function sizeGroups(
  input: CutInput & {
    readonly dims1: Record<string, number[]>;
    readonly dims2: Record<string, number[]>;
    readonly check: Dataset | undefined;
    readonly heldOut: Dataset | undefined;
  },
): Promise<{ ratios: Map<number, number>; scan: SensitivityRow[] | null }> {
  const { opts, stats, check } = input;
  if (!(opts.target && check && stats)) return { ratios: ratiosFromOptions(input.analysis.groups, opts), scan: null };
  if (opts.levels?.some((r) => !(r > 0 && r < 1))) throw ratioError('a sensitivity level', opts.levels.join(', '));
  const common = {
    original: input.original,
    analysis: input.analysis,
    groups: input.prunable,
    stats,
    importance: input.importance,
    levels: opts.levels ?? DEFAULT_LEVELS,
    ridge: input.ridge,
    inputDims: input.dims2,
    channelMultiple: channelMultipleOf(opts),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  let scan: SensitivityRow[];
  if (opts.scan === 'layer') scan = scanLayerSensitivity(common);
  else {
    const probe = input.heldOut ?? firstSamples(check, opts.scanSamples ?? 32);
    scan = await scanSensitivity({
      ...common,
      reference: await runOutputs(input.original, probe),
      data: probe,
      refit: opts.refitInScan ?? true,
    });
  }
  const costs = groupCostModel(input.original.graph, input.analysis, input.dims1);
  return { ratios: allocateRatios(scan, costs.cost, costs.base, opts.target), scan };
}

/** The channels each group keeps, and the criterion that chose them. */
function chooseChannels(
  input: CutInput & { readonly ratios: ReadonlyMap<number, number>; readonly scan: SensitivityRow[] | null },
): { kept: Map<number, number[]>; methods: Map<number, string> } {
  const kept = new Map<number, number[]>();
  const methods = new Map<number, string>();
  for (const g of input.prunable) {
    const multiple = groupMultiple(input.original.graph, g, channelMultipleOf(input.opts));
    const remove = removalCount(g.channels, g.blocks, input.ratios.get(g.id) ?? 0, multiple);
    if (remove === 0) continue;
    const row = input.scan?.find((x) => x.id === g.id);
    if (row?.order && remove <= row.order.length) {
      // The scan already ranked this group's channels: a prefix of its order is the selection.
      const gone = new Set(row.order.slice(0, remove));
      kept.set(
        g.id,
        Array.from({ length: g.channels }, (_x, i) => i).filter((c) => !gone.has(c)),
      );
      methods.set(g.id, row.method ?? input.importance);
      continue;
    }
    const sel = selectChannels({
      graph: input.original.graph,
      analysis: input.analysis,
      group: g,
      remove,
      importance: input.importance,
      ...(input.stats ? { stats: input.stats } : {}),
      ridge: input.ridge,
    });
    kept.set(g.id, sel.kept);
    methods.set(g.id, sel.method);
    input.opts.onProgress?.({
      pass: 'prune-structured',
      done: kept.size,
      total: input.prunable.length,
      what: `chose channels of ${g.name}`,
    });
  }
  return { kept, methods };
}

export { adoptGraph, checkAgainstOriginal } from './structured-report.js';
