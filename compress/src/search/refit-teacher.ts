/**
 * A pruned teacher as the search builds it: the teacher pruned to the candidate's widths (issue
 * 14's structured pruning), its chosen pools folded into strided convolutions, and refit by least
 * squares against the teacher's own outputs. Kept apart from the builder (builder.ts), which
 * distils and quantizes what this returns.
 */
import { getAttrInts, type Model } from '../ir/index.js';
import { cloneModel, ensureNodeNames, pruneStructured } from '../prune/structured.js';
import { reconstructLayers } from '../prune/reconstruct.js';
import type { Dataset } from '../data/tensor.js';
import { foldPoolsIntoStrides } from './fold-pools.js';
import type { Candidate } from './space.js';

/** What the refit needs of the builder's options. */
export interface RefitOptions {
  readonly teacher: Model;
  /** Calibration for the pruning's channel choice and the refit. */
  readonly calib: Dataset;
}

/** How many refit pruned teachers a builder keeps (a few MB each on mnist-cnn-large). */
const REFIT_CACHE_SIZE = 8;

/**
 * Pruned teachers after their refit, by widths and folded pools: a search visits one shape at
 * several precisions (and the finalist again), and the refit is the same each time (it depends on
 * the teacher and the calibration data only), while on mnist-cnn-large it costs tens of seconds.
 * Copies go out, so no build can change a cached model.
 */
export function createRefitCache() {
  const cache = new Map<string, { model: Model; notes: readonly string[] }>();
  return async (c: Candidate, opts: RefitOptions, notes: string[]): Promise<Model> => {
    const key = `${JSON.stringify(c.pruneRatios)}|${c.downsample.join()}`;
    let hit = cache.get(key);
    if (!hit) {
      const made: string[] = [];
      hit = { model: await pruned(c, opts, made), notes: made };
      cache.set(key, hit);
      if (cache.size > REFIT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    }
    notes.push(...hit.notes);
    return cloneModel(hit.model);
  };
}

/**
 * The teacher pruned to the candidate's widths, its chosen pools folded into strides, and refit by
 * least squares against the teacher's own outputs: the layers that lost input channels, and the
 * layer reading each folded map. Layers up to a folded convolution are refit before the fold (its
 * output positions no longer match the teacher's after it), the rest after, so the refit absorbs
 * what the strided sampling changes (folding after the refit cost mnist-cnn-large ~0.8 points).
 */
async function pruned(c: Candidate, opts: RefitOptions, notes: string[]): Promise<Model> {
  const teacher = cloneModel(opts.teacher);
  ensureNodeNames(teacher.graph);
  let model = cloneModel(teacher);
  let refit: string[] = [];
  let keptOutputs: ReadonlyMap<string, readonly number[]> = new Map();
  if (Object.keys(c.pruneRatios).length > 0) {
    const outcome = await pruneStructured(teacher, { ratios: c.pruneRatios, data: opts.calib, reconstruct: false });
    model = outcome.model;
    refit = [...outcome.handoff.consumers];
    keptOutputs = outcome.handoff.keptOutputs;
    notes.push(`pruned ${Object.keys(c.pruneRatios).length} layer group(s)`);
  }
  const order = new Map(model.graph.nodes.map((n, i) => [n.name, i]));
  const stridesBefore = new Map(model.graph.nodes.map((n) => [n.name, String(getAttrInts(n, 'strides', [1, 1]))]));
  const probe = cloneModel(model);
  const folded = foldPoolsIntoStrides(probe, c.downsample);
  const changed = folded > 0 ? readersOfStridedMaps(probe, stridesBefore) : { convs: [], readers: [] };
  // A folded convolution's own outputs no longer line up with the teacher's: it is refit (if at all) before.
  const lastFolded = Math.max(-1, ...changed.convs.map((n) => order.get(n) ?? -1));
  const before = refit.filter((n) => (order.get(n) ?? 0) <= lastFolded);
  const after = [...new Set([...refit, ...changed.readers])].filter((n) => (order.get(n) ?? 0) > lastFolded);
  if (before.length > 0) await reconstructLayers(model, teacher, before, keptOutputs, { data: opts.calib });
  if (folded > 0) {
    foldPoolsIntoStrides(model, c.downsample);
    notes.push(`${folded} pool(s) folded into strided convolutions`);
  }
  if (after.length > 0) await reconstructLayers(model, teacher, after, keptOutputs, { data: opts.calib });
  if (before.length + after.length > 0)
    notes.push(`refit ${[...before, ...after].join(', ')} by least squares against the teacher`);
  return model;
}

/** Convolutions whose stride a fold raised, and the first Conv/Gemm/MatMul after each (it reads the changed map). */
function readersOfStridedMaps(
  model: Model,
  stridesBefore: ReadonlyMap<string, string>,
): { convs: string[]; readers: string[] } {
  const nodes = model.graph.nodes;
  const compute = (op: string) => op === 'Conv' || op === 'Gemm' || op === 'MatMul';
  const convs: string[] = [];
  const readers: string[] = [];
  nodes.forEach((n, i) => {
    if (n.opType !== 'Conv' || stridesBefore.get(n.name) === String(getAttrInts(n, 'strides', [1, 1]))) return;
    convs.push(n.name);
    const next = nodes.slice(i + 1).find((m) => compute(m.opType));
    if (next) readers.push(next.name);
  });
  return { convs, readers };
}
