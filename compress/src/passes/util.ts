/**
 * Small graph helpers the passes share: attribute access, constant lookup, opset handling,
 * exclusion checks and tensor construction. Everything here is pure over the IR.
 */
import type { Graph } from '../ir/graph.js';
import type { Attribute, Model, Node, Tensor, TensorOf } from '../ir/types.js';
import type { DType, TensorDataMap } from '../ir/dtype.js';
import { QUANTIZED_OPS } from '../quant/kernels.js';
import { allGraphs } from '../ir/scopes.js';
import type { Exclusions, NodeNote } from './types.js';

/** An int attribute (or the default). */
export function intAttr(node: Node, name: string, dflt: number): number {
  const a = node.attributes.find((x) => x.name === name);
  return a?.kind === 'int' ? Number(a.value) : dflt;
}

/** A float attribute (or the default). */
export function floatAttr(node: Node, name: string, dflt: number): number {
  const a = node.attributes.find((x) => x.name === name);
  return a?.kind === 'float' ? a.value : dflt;
}

/** An ints attribute (or undefined). */
export function intsAttr(node: Node, name: string): number[] | undefined {
  const a = node.attributes.find((x) => x.name === name);
  return a?.kind === 'ints' ? a.value.map(Number) : undefined;
}

/** Build an int attribute. */
export function mkIntAttr(name: string, value: number): Attribute {
  return { name, kind: 'int', value: BigInt(value), refAttrName: '', docString: '' };
}

/** Build a tensor. */
export function mkTensor<D extends DType>(name: string, dtype: D, dims: number[], data: TensorDataMap[D]): TensorOf<D> {
  return { name, dtype, dims, data, docString: '' } as TensorOf<D>;
}

/**
 * The float32 initializer named `value`, if it is one: of this graph or, for a subgraph, of the
 * enclosing scope that defines the name (a branch may read its weights from the outer graph).
 */
export function floatInit(graph: Graph, value: string | undefined): TensorOf<'float32'> | undefined {
  if (value === undefined || value === '') return undefined;
  for (let g: Graph | undefined = graph; g; g = g.parent) {
    const t: Tensor | undefined = g.initializers.get(value);
    if (t) return t.dtype === 'float32' ? t : undefined;
    if (g.definesValue(value)) return undefined;
  }
  return undefined;
}

/** Opset version of a domain ('' = ai.onnx), or undefined when not imported. */
export function opsetOf(model: Model, domain: string): number | undefined {
  const d = domain === 'ai.onnx' ? '' : domain;
  return model.opsetImports.find((o) => o.domain === d)?.version;
}

/** Import `com.microsoft` version 1 if missing (our contrib ops need it). */
export function ensureMsDomain(model: Model): void {
  if (opsetOf(model, 'com.microsoft') === undefined) model.opsetImports.push({ domain: 'com.microsoft', version: 1 });
}

/** Why a node is excluded, or undefined when it is not. */
export function exclusionReason(node: Node, ex: Exclusions): string | undefined {
  if (ex.nodes.includes(node.name)) return `excluded by name (${node.name})`;
  if (ex.opTypes.includes(node.opType)) return `excluded by op type (${node.opType})`;
  return undefined;
}

/** Names of quantized ops already in the graph or its subgraphs (a second quantization would be wrong). */
export function quantizedOpsIn(graph: Graph): string[] {
  const nodes = allGraphs(graph).flatMap((s) => s.graph.nodes);
  return [...new Set(nodes.filter((n) => QUANTIZED_OPS.has(n.opType)).map((n) => n.opType))];
}

/**
 * Report lines for the nodes of `opTypes` inside subgraphs that a pass working on the main graph
 * only leaves alone, so nothing inside an If/Loop/Scan body is skipped silently.
 */
export function subgraphNotes(root: Graph, opTypes: readonly string[], why: string): NodeNote[] {
  return allGraphs(root)
    .filter((s) => s.owner !== undefined)
    .flatMap((s) =>
      s.graph.nodes
        .filter((n) => opTypes.includes(n.opType))
        .map((n) => ({ node: n.name, opType: n.opType, precision: 'fp32', reason: `inside ${s.label}: ${why}` })),
    );
}

/** Product of dims. */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Transpose a row-major [R, C] matrix to [C, R]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] ?? 0;
  return out;
}

/** A Gemm that is a plain `A·op(B) + C` with a constant 2-D B: alpha=beta=1, no transA, C absent or [N]. */
export interface LinearGemm {
  readonly b: TensorOf<'float32'>;
  readonly transB: boolean;
  readonly bias?: TensorOf<'float32'>;
  readonly K: number;
  readonly N: number;
}

/** Recognise a MatMul or Gemm with a constant 2-D float weight (why not, otherwise). */
export function linearWeight(graph: Graph, node: Node): LinearGemm | string {
  if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return `${node.opType} is not MatMul/Gemm`;
  const b = floatInit(graph, node.inputs[1]);
  if (!b) return 'weight is not a float32 initializer';
  if (b.dims.length !== 2) return `weight has rank ${b.dims.length}, only 2-D weights are supported`;
  if (node.opType === 'MatMul') return { b, transB: false, K: b.dims[0] ?? 0, N: b.dims[1] ?? 0 };
  if (intAttr(node, 'transA', 0) !== 0) return 'Gemm with transA=1';
  if (floatAttr(node, 'alpha', 1) !== 1 || floatAttr(node, 'beta', 1) !== 1) return 'Gemm with alpha/beta ≠ 1';
  const transB = intAttr(node, 'transB', 0) === 1;
  const K = transB ? (b.dims[1] ?? 0) : (b.dims[0] ?? 0);
  const N = transB ? (b.dims[0] ?? 0) : (b.dims[1] ?? 0);
  const cName = node.inputs[2];
  if (cName === undefined || cName === '') return { b, transB, K, N };
  const bias = floatInit(graph, cName);
  if (!bias || numel(bias.dims) !== N || bias.dims.length > 2) return 'Gemm bias is not a constant [N] vector';
  return { b, transB, bias, K, N };
}

/**
 * Remove initializers no node reads any more in the whole tree, subgraphs first (a branch may have read an outer one).
 */
export function dropUnusedInitializersDeep(root: Graph): number {
  return allGraphs(root)
    .reverse()
    .reduce((n, s) => n + dropUnusedInitializers(s.graph), 0);
}

/** Remove initializers no node reads any more (after a pass replaced them). */
export function dropUnusedInitializers(graph: Graph): number {
  let n = 0;
  for (const name of [...graph.initializers.keys()]) {
    if (
      graph.consumersOf(name).length === 0 &&
      !graph.isGraphOutput(name) &&
      graph.implicitConsumersOf(name).length === 0
    ) {
      graph.removeInitializer(name);
      n++;
    }
  }
  return n;
}

/** The name of a [N] float bias for `info`, adding a flattened copy when the Gemm's C is [1, N]. */
export function biasVectorName(graph: Graph, bias: TensorOf<'float32'>): string {
  if (bias.dims.length === 1) return bias.name;
  const name = graph.freshName(`${bias.name}_vec`);
  graph.addInitializer(mkTensor(name, 'float32', [bias.data.length], bias.data));
  return name;
}
