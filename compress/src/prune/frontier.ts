/**
 * Running only the part of a model a cut can change. Pruning one group touches its members
 * and, through them, every node downstream; everything upstream computes what the original
 * computes. The sensitivity scan therefore runs the original once per group up to the
 * *frontier* (the tensors the changed part reads from the unchanged part), keeps those values,
 * and runs each candidate's changed part alone on them: for a group deep in a network most of
 * the model is never run again.
 */
import type { Dataset } from '../data/tensor.js';
import { loadModel, stableTopoOrder, writeModel, type DType, type Graph, type Model } from '../ir/index.js';
import { createOrtSession, type RuntimeTensor } from '../runtime/ort.js';
import type { Outputs } from './fidelity.js';

/** The changed part of a graph and the tensors it reads from the rest. */
export interface Frontier {
  /** Nodes that may compute something new (the changed ones and all downstream of them). */
  readonly after: ReadonlySet<string>;
  /** Tensors the changed part reads from outside itself (graph inputs included). */
  readonly inputs: readonly string[];
  /** Model outputs the changed part produces. */
  readonly outputs: readonly string[];
}

/** The frontier of `changed` nodes in `graph`. */
export function frontierOf(graph: Graph, changed: Iterable<string>): Frontier {
  const after = new Set<string>(changed);
  const produced = new Set<string>();
  const order = stableTopoOrder(graph);
  for (const node of order) {
    if (!after.has(node.name) && !node.inputs.some((v) => produced.has(v))) continue;
    after.add(node.name);
    for (const o of node.outputs) if (o !== '') produced.add(o);
  }
  const inputs = new Set<string>();
  for (const node of order)
    if (after.has(node.name))
      for (const v of node.inputs) if (v !== '' && !produced.has(v) && !graph.initializers.has(v)) inputs.add(v);
  return { after, inputs: [...inputs], outputs: graph.outputs.map((o) => o.name).filter((o) => produced.has(o)) };
}

/** A copy of `model` reduced to the frontier's changed part, reading the frontier as graph inputs. */
export function suffixModel(model: Model, f: Frontier, dtypes: ReadonlyMap<string, DType>): Model {
  const copy = loadModel(writeModel(model), { verify: false });
  const g = copy.graph;
  for (const node of [...g.nodes]) if (!f.after.has(node.name)) g.removeNode(node);
  g.inputs = f.inputs.map((name) => ({
    name,
    type: { kind: 'tensor', elemType: dtypes.get(name) ?? 'float32', shape: undefined, denotation: '' },
    docString: '',
  }));
  g.outputs = g.outputs.filter((o) => f.outputs.includes(o.name));
  const read = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const name of [...g.initializers.keys()]) if (!read.has(name)) g.removeInitializer(name);
  return copy;
}

/** Values of the frontier's inputs on `data` (one batch), from the original model. */
export async function frontierValues(
  original: Model,
  f: Frontier,
  data: Dataset,
  dtypes: ReadonlyMap<string, DType>,
): Promise<Record<string, RuntimeTensor>> {
  const copy = loadModel(writeModel(original), { verify: false });
  const g = copy.graph;
  const internal = f.inputs.filter((v) => !g.isGraphInput(v));
  g.outputs = internal.map((name) => ({
    name,
    type: { kind: 'tensor', elemType: dtypes.get(name) ?? 'float32', shape: undefined, denotation: '' },
    docString: '',
  }));
  const needed = new Set(internal);
  for (const node of [...g.nodes].reverse()) {
    if (node.outputs.some((o) => needed.has(o))) for (const i of node.inputs) needed.add(i);
    else g.removeNode(node);
  }
  const feeds = dataFeeds(data);
  const values: Record<string, RuntimeTensor> = {};
  for (const v of f.inputs) if (feeds[v]) values[v] = feeds[v] as RuntimeTensor;
  if (internal.length === 0) return values;
  const session = await createOrtSession(writeModel(copy));
  try {
    Object.assign(values, await session.run(feeds, internal));
  } finally {
    await session.release();
  }
  return values;
}

function dataFeeds(data: Dataset): Record<string, RuntimeTensor> {
  return Object.fromEntries(
    Object.entries(data.inputs).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, data: t.data } as RuntimeTensor]),
  );
}

/** Runs a suffix model on frontier values; outputs it does not produce come from `reference`. */
export async function runSuffix(
  suffix: Model,
  feeds: Record<string, RuntimeTensor>,
  reference: Outputs,
): Promise<Outputs> {
  const session = await createOrtSession(writeModel(suffix));
  const values = new Map(reference.values);
  try {
    const mine = Object.fromEntries(suffix.graph.inputs.map((i) => [i.name, feeds[i.name] as RuntimeTensor]));
    const out = await session.run(mine);
    for (const [name, t] of Object.entries(out))
      values.set(name, t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>));
  } finally {
    await session.release();
  }
  return { ...reference, values };
}
