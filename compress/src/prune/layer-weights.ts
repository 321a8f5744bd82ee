/**
 * A weighted layer's weights as the least-squares view sees them (W: k×o with the probe's
 * column order, b: o) and back: Conv [O, Cin/g, *kernel] (column ci·taps + t, block-diagonal
 * for grouped convolutions), Gemm (alpha, beta and transB folded in), MatMul with its bias in
 * a following Add of a constant vector, when it has one.
 */
import { attr, getAttrFloat, getAttrInt, setAttr, type Graph, type Node } from '../ir/index.js';
import { floatInit, mkTensor, numel } from '../passes/util.js';
import type { LinearSolution } from './least-squares.js';

/** The Add holding a MatMul's bias: its only reader, adding a float32 constant of `o` values on the last axis. */
export function biasAddOf(graph: Graph, node: Node, o: number): { add: Node; slot: number } | undefined {
  const readers = graph.consumersOf(node.outputs[0] ?? '');
  const add = readers[0];
  if (readers.length !== 1 || add?.opType !== 'Add' || graph.isGraphOutput(node.outputs[0] ?? '')) return undefined;
  const slot = add.inputs[0] === node.outputs[0] ? 1 : 0;
  const t = floatInit(graph, add.inputs[slot]);
  return t && numel(t.dims) === o && (t.dims[t.dims.length - 1] ?? 0) === o ? { add, slot } : undefined;
}

/** Whether the layer can take an intercept (Conv and Gemm always; MatMul with a bias Add). */
export function hasBiasSlot(graph: Graph, node: Node): boolean {
  if (node.opType !== 'MatMul') return true;
  const w = floatInit(graph, node.inputs[1]);
  return w !== undefined && biasAddOf(graph, node, w.dims[1] ?? 0) !== undefined;
}

/** Output-channel groups of a layer (Conv `group`, else 1). */
export function groupsOf(node: Node): number {
  return node.opType === 'Conv' ? (getAttrInt(node, 'group', 1) as number) : 1;
}

/** The layer's current weights in least-squares form. */
export function readSolution(graph: Graph, node: Node): LinearSolution {
  const w = floatInit(graph, node.inputs[1]);
  if (!w) throw new Error(`layer ${node.name} has no float32 weight`);
  if (node.opType === 'Conv') {
    const [o = 0, perGroup = 0] = w.dims;
    const groups = groupsOf(node);
    const taps = numel(w.dims.slice(2));
    const k = perGroup * groups * taps;
    const out = new Float64Array(k * o);
    const colsPerGroup = perGroup * taps;
    for (let f = 0; f < o; f++) {
      const g = Math.floor(f / (o / groups));
      for (let i = 0; i < colsPerGroup; i++)
        out[(g * colsPerGroup + i) * o + f] = w.data[f * colsPerGroup + i] as number;
    }
    const bias = floatInit(graph, node.inputs[2]);
    return { w: out, b: Float64Array.from(bias?.data ?? new Float32Array(o)), k, o };
  }
  if (node.opType === 'Gemm') {
    const transB = getAttrInt(node, 'transB', 0) === 1;
    const alpha = getAttrFloat(node, 'alpha', 1) as number;
    const beta = getAttrFloat(node, 'beta', 1) as number;
    const [r = 0, c = 0] = w.dims;
    const k = transB ? c : r;
    const o = transB ? r : c;
    const out = new Float64Array(k * o);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < o; j++) out[i * o + j] = alpha * (w.data[transB ? j * c + i : i * c + j] as number);
    const bias = floatInit(graph, node.inputs[2]);
    const b = new Float64Array(o);
    if (bias) for (let j = 0; j < o; j++) b[j] = beta * (bias.data[bias.data.length === o ? j : 0] as number);
    return { w: out, b, k, o };
  }
  const [k = 0, o = 0] = w.dims;
  const found = biasAddOf(graph, node, o);
  const bias = found ? floatInit(graph, found.add.inputs[found.slot]) : undefined;
  return { w: Float64Array.from(w.data), b: Float64Array.from(bias?.data ?? new Float32Array(o)), k, o };
}

function put(graph: Graph, node: Node, slot: number, base: string, dims: number[], data: Float32Array): void {
  const name = graph.freshName(`${base}_refit`);
  graph.addInitializer(mkTensor(name, 'float32', dims, data));
  graph.setNodeInput(node, slot, name);
}

/** Writes a least-squares solution back into the layer (new initializers; the old ones drop out if unused). */
export function writeSolution(graph: Graph, node: Node, sol: LinearSolution, withBias: boolean): void {
  const w = floatInit(graph, node.inputs[1]);
  if (!w) throw new Error(`layer ${node.name} has no float32 weight`);
  const { k, o } = sol;
  const b = Float32Array.from(sol.b);
  if (node.opType === 'Conv') {
    const groups = groupsOf(node);
    const colsPerGroup = k / groups;
    const data = new Float32Array(o * colsPerGroup);
    for (let f = 0; f < o; f++) {
      const g = Math.floor(f / (o / groups));
      for (let i = 0; i < colsPerGroup; i++)
        data[f * colsPerGroup + i] = sol.w[(g * colsPerGroup + i) * o + f] as number;
    }
    put(graph, node, 1, w.name, [...w.dims], data);
    if (withBias) put(graph, node, 2, `${node.name}_bias`, [o], b);
    return;
  }
  if (node.opType === 'Gemm') {
    const transB = getAttrInt(node, 'transB', 0) === 1;
    const data = new Float32Array(k * o);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < o; j++) data[transB ? j * k + i : i * o + j] = sol.w[i * o + j] as number;
    put(graph, node, 1, w.name, transB ? [o, k] : [k, o], data);
    setAttr(node, attr.float('alpha', 1));
    if (withBias) {
      put(graph, node, 2, `${node.name}_bias`, [o], b);
      setAttr(node, attr.float('beta', 1));
    }
    return;
  }
  put(graph, node, 1, w.name, [k, o], Float32Array.from(sol.w));
  const found = withBias ? biasAddOf(graph, node, o) : undefined;
  if (found) {
    const old = floatInit(graph, found.add.inputs[found.slot]);
    put(graph, found.add, found.slot, old?.name ?? `${node.name}_bias`, old ? [...old.dims] : [o], b);
  }
}
