/**
 * Cutting channels out of a graph, once the groups and the channels each keeps are decided.
 * Every member of the analysis gets its constant sliced along the right axis: producers lose
 * filters (rows) and bias entries, consumers lose input slices, BatchNorm and other per-channel
 * constants lose entries, depthwise convolutions lose whole filters (and `group` shrinks), and a
 * Reshape whose constant target spells the channel count gets the new count. Sliced constants
 * are new initializers wired to that one input, so a constant shared with a layer outside the
 * group is never changed under it. Afterwards shape inference must agree with the plan, or the
 * cut is a bug and throws.
 */
import { getAttrInt, setAttr, attr, type Graph, type Node, type Tensor } from '../ir/index.js';
import { dropUnusedInitializers, floatInit, mkTensor } from '../passes/util.js';
import type { Member } from './channel-rules.js';
import type { ChannelAnalysis } from './channel-graph.js';
import { shapesAt } from './channel-graph.js';
import { keptAlongAxis } from './layout.js';

/** Kept channel indices (ascending, within 0..channels-1) per group id; groups not listed keep all. */
export type KeptChannels = ReadonlyMap<number, readonly number[]>;

/** A float32 tensor sliced along `axis` to `indices` (in that order). */
export function sliceFloatAxis(t: Tensor, axis: number, indices: readonly number[], name: string): Tensor {
  if (t.dtype !== 'float32') throw new TypeError(`cannot slice ${t.dtype} tensor ${t.name}`);
  const dims = [...t.dims];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = dims[axis] ?? 1;
  const out = new Float32Array(outer * indices.length * inner);
  for (let o = 0; o < outer; o++)
    for (let k = 0; k < indices.length; k++) {
      const from = (o * size + (indices[k] as number)) * inner;
      out.set(t.data.subarray(from, from + inner), (o * indices.length + k) * inner);
    }
  dims[axis] = indices.length;
  return mkTensor(name, 'float32', dims, out);
}

/** Replaces input `slot` of `node` by a new initializer (only this node's input is rewired). */
function rewire(graph: Graph, node: Node, slot: number, t: Tensor): void {
  graph.addInitializer(t);
  graph.setNodeInput(node, slot, t.name);
}

function sliceSlot(graph: Graph, node: Node, slot: number, axis: number, indices: readonly number[]): void {
  const t = floatInit(graph, node.inputs[slot]);
  if (!t) throw new Error(`${node.name} input ${slot} is not a float32 initializer`);
  if ((t.dims[axis] ?? 0) === indices.length) return;
  rewire(graph, node, slot, sliceFloatAxis(t, axis, indices, graph.freshName(`${t.name}_pruned`)));
}

/** Slices a bias whose channels are its last axis ([N] or [1, N]). */
function sliceBias(graph: Graph, node: Node, slot: number, indices: readonly number[]): void {
  const t = node.inputs[slot] ? floatInit(graph, node.inputs[slot]) : undefined;
  if (t) sliceSlot(graph, node, slot, t.dims.length - 1, indices);
}

function cutProducer(graph: Graph, node: Node, idx: readonly number[]): void {
  if (node.opType === 'Conv') {
    sliceSlot(graph, node, 1, 0, idx);
    sliceBias(graph, node, 2, idx);
  } else if (node.opType === 'Gemm') {
    sliceSlot(graph, node, 1, getAttrInt(node, 'transB', 0) === 1 ? 0 : 1, idx);
    sliceBias(graph, node, 2, idx);
  } else sliceSlot(graph, node, 1, 1, idx);
}

function cutConsumer(graph: Graph, node: Node, idx: readonly number[]): void {
  const group = getAttrInt(node, 'group', 1) as number;
  if (node.opType === 'Gemm') sliceSlot(graph, node, 1, getAttrInt(node, 'transB', 0) === 1 ? 1 : 0, idx);
  else if (node.opType === 'MatMul') sliceSlot(graph, node, 1, 0, idx);
  else if (group === 1) sliceSlot(graph, node, 1, 1, idx);
  else cutGroupedConsumer(graph, node, idx, group);
}

/** Grouped Conv: filters of group j read input block j; each block keeps the same number of channels. */
function cutGroupedConsumer(graph: Graph, node: Node, idx: readonly number[], group: number): void {
  const w = floatInit(graph, node.inputs[1]);
  if (!w) throw new Error(`${node.name} weight is not a float32 initializer`);
  const [filters = 0, perGroup = 0] = w.dims;
  const keepPerGroup = idx.length / group;
  const inner = w.dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(filters * keepPerGroup * inner);
  for (let o = 0; o < filters; o++) {
    const j = Math.floor(o / (filters / group));
    for (let k = 0; k < keepPerGroup; k++) {
      const c = (idx[j * keepPerGroup + k] as number) - j * perGroup;
      out.set(
        w.data.subarray((o * perGroup + c) * inner, (o * perGroup + c + 1) * inner),
        (o * keepPerGroup + k) * inner,
      );
    }
  }
  const dims = [...w.dims];
  dims[1] = keepPerGroup;
  rewire(graph, node, 1, mkTensor(graph.freshName(`${w.name}_pruned`), 'float32', dims, out));
}

function rewriteTarget(
  graph: Graph,
  m: Extract<Member, { kind: 'reshape' }>,
  count: number,
  byName: Map<string, Node>,
): void {
  const t = graph.initializers.get(m.constant);
  const reader = byName.get(m.reader);
  if (!t || !reader || (t.dtype !== 'int64' && t.dtype !== 'int32' && t.dtype !== 'float32'))
    throw new Error(`reshape target ${m.constant} of ${m.node} cannot be rewritten`);
  const copy = { ...t, name: graph.freshName(`${t.name}_pruned`), data: t.data.slice() } as Tensor;
  if (copy.dtype === 'int64') copy.data[m.index] = BigInt(count);
  else (copy.data as Int32Array | Float32Array)[m.index] = count;
  rewire(graph, reader, m.slot, copy);
}

/**
 * Cuts the kept channels of every group into `graph` (mutated). `analysis` must come from
 * this graph. Throws when the result's inferred shapes disagree with the plan (a bug).
 */
export function applyCut(
  graph: Graph,
  analysis: ChannelAnalysis,
  kept: KeptChannels,
  inputDims: Readonly<Record<string, readonly number[]>>,
  options: { readonly partial?: boolean } = {},
): void {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const keptOf = (space: number): readonly number[] | undefined => kept.get(analysis.rootOf(space));
  const along = (tensor: string): number[] => {
    const l = analysis.layouts.get(tensor);
    if (!l) throw new Error(`no channel layout for ${tensor}`);
    return keptAlongAxis(l, keptOf);
  };
  const rank = { out: 0, in: 1, param: 2, depthwise: 2, reshape: 3 } as const;
  for (const m of [...analysis.members].sort((a, b) => rank[a.kind] - rank[b.kind])) {
    const l = analysis.layouts.get(m.tensor);
    const idx = along(m.tensor);
    // Members of groups that keep everything have nothing to cut (and may lie outside a partial graph).
    if (l && idx.length === keptAlongAxis(l, () => undefined).length) continue;
    const node = byName.get(m.node);
    if (!node) throw new Error(`node ${m.node} vanished`);
    if (m.kind === 'out') cutProducer(graph, node, idx);
    else if (m.kind === 'in') cutConsumer(graph, node, idx);
    else if (m.kind === 'param') sliceSlot(graph, node, m.slot, m.axis, idx);
    else if (m.kind === 'depthwise') {
      sliceSlot(graph, node, 1, 0, idx);
      sliceBias(graph, node, 2, idx);
      setAttr(node, attr.int('group', idx.length));
    } else rewriteTarget(graph, m, idx.length, byName);
  }
  for (const [tensor, l] of analysis.layouts) {
    const vi = graph.valueInfo.get(tensor);
    const shape = vi?.type?.kind === 'tensor' ? vi.type.shape : undefined;
    if (shape && typeof shape[l.axis] === 'number') shape[l.axis] = along(tensor).length;
  }
  dropUnusedInitializers(graph);
  checkShapes(graph, analysis, inputDims, along, options.partial === true);
}

/** Every tensor with channels must now have the kept count on its channel axis and its old size elsewhere. */
function checkShapes(
  graph: Graph,
  analysis: ChannelAnalysis,
  inputDims: Readonly<Record<string, readonly number[]>>,
  along: (tensor: string) => number[],
  partial: boolean,
): void {
  const { shapes } = shapesAt(graph, inputDims);
  for (const [tensor, l] of analysis.layouts) {
    const before = analysis.shapes.get(tensor)?.dims;
    const after = shapes.get(tensor)?.dims;
    // A partial graph (the sensitivity scan's suffix) holds only some of the tensors, and some
    // shapes it cannot infer (a reshape target computed upstream arrives as an input).
    if (!before || !(graph.producerOf(tensor) || graph.isGraphInput(tensor))) continue;
    if (partial && !after) continue;
    const want = before.map((d, i) => (i === l.axis ? along(tensor).length : d));
    if (!after || after.join(',') !== want.join(','))
      throw new Error(`after the cut ${tensor} has shape [${after?.join(',') ?? '?'}], expected [${want.join(',')}]`);
  }
}
