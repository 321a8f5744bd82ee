import { inferShapes, type KnownValue } from '../../eval/shapes.js';
import { getAttrInt, type Graph, type Model, type Node } from '../../ir/index.js';

/**
 * What the latency model sees of a graph: one cost unit per node onnxruntime actually runs,
 * with the precision it computes in and the work it does. The rules follow what onnxruntime's
 * optimizer does to edgefleet's graphs (checked in the optimized graphs, see
 * measured-on-this-hardware.md):
 *
 * - QuantizeLinear / DequantizeLinear between two int8 layers fuse into QLinearConv / QGemm, and
 *   Casts around fp16 layers are plumbing: neither is a unit of its own. Where a tensor crosses
 *   from one precision to another (a graph input entering an int8 layer, an int8 layer feeding a
 *   float one or a graph output) a `boundary` unit carries the cost of converting that tensor.
 * - A Relu / Clip right after a Conv or Gemm is fused into it (no unit).
 */
export type UnitPrecision = 'fp32' | 'fp16' | 'int8';

/** Kinds of unit, each with its own cost coefficients. */
export const UNIT_OPS = ['conv', 'dense', 'pool', 'elementwise', 'layout', 'other', 'boundary'] as const;
export type UnitOp = (typeof UNIT_OPS)[number];

/** One unit of work: a node (or a precision boundary) with its multiply-accumulates and output elements. */
export interface CostUnit {
  readonly node: string;
  readonly op: UnitOp;
  readonly precision: UnitPrecision;
  /** Multiply-accumulates over the whole batch (conv and dense), else 0. */
  readonly macs: number;
  /**
   * Elements over the whole batch: a pool's input (what it reads), the converted tensor for a
   * boundary, the output for everything else.
   */
  readonly elements: number;
}

const PLUMBING = new Set(['QuantizeLinear', 'DequantizeLinear', 'Cast']);
const FUSABLE_ACTIVATIONS = new Set(['Relu', 'Clip']);
const OP_KIND: Readonly<Record<string, UnitOp>> = {
  Conv: 'conv',
  QLinearConv: 'conv',
  ConvInteger: 'conv',
  Gemm: 'dense',
  MatMul: 'dense',
  QGemm: 'dense',
  MatMulInteger: 'dense',
  MaxPool: 'pool',
  AveragePool: 'pool',
  GlobalAveragePool: 'pool',
  GlobalMaxPool: 'pool',
  Relu: 'elementwise',
  Clip: 'elementwise',
  Add: 'elementwise',
  Mul: 'elementwise',
  Sigmoid: 'elementwise',
  Softmax: 'elementwise',
  Flatten: 'layout',
  Reshape: 'layout',
  Transpose: 'layout',
  Squeeze: 'layout',
  Unsqueeze: 'layout',
  Concat: 'layout',
};

const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The node that really computes `value`, looking through Q/DQ/Cast plumbing; undefined for graph inputs. */
function realProducer(graph: Graph, value: string): Node | undefined {
  let p = graph.producerOf(value);
  while (p && PLUMBING.has(p.opType)) p = p.inputs[0] === undefined ? undefined : graph.producerOf(p.inputs[0]);
  return p;
}

/** Precision a node computes in: int8 when an activation arrives through DequantizeLinear (QDQ form). */
function precisionOf(graph: Graph, node: Node, values: Map<string, KnownValue>): UnitPrecision {
  if (/^QLinear|^QGemm|Integer$/.test(node.opType)) return 'int8';
  const act = node.inputs[0];
  if (act === undefined || act === '') return 'fp32';
  if (graph.producerOf(act)?.opType === 'DequantizeLinear') return 'int8';
  return values.get(act)?.dtype === 'float16' ? 'fp16' : 'fp32';
}

function macsOf(node: Node, ins: (KnownValue | undefined)[], out: KnownValue | undefined): number {
  const kind = OP_KIND[node.opType];
  if (!out) return 0;
  if (kind === 'conv') {
    const w = node.opType === 'QLinearConv' ? ins[3] : ins[1];
    if (!w) return 0;
    // Output elements × (input channels per group × kernel area) = weight elements / Cout.
    return (count(out.dims) * count(w.dims)) / (w.dims[0] as number);
  }
  if (kind === 'dense') {
    const a = ins[0];
    if (!a) return 0;
    const k = a.dims[a.dims.length - 1] as number;
    const transA = node.opType === 'Gemm' && getAttrInt(node, 'transA', 0) === 1;
    return count(out.dims) * (transA ? (a.dims[0] as number) : k);
  }
  return 0;
}

/** Per-sample dims of the graph inputs with the batch (first, symbolic or 1) dimension set to `batch`. */
export function batchedInputDims(model: Model, batch: number): Record<string, number[]> {
  const g = model.graph;
  const out: Record<string, number[]> = {};
  for (const vi of g.inputs) {
    if (g.initializers.has(vi.name) || vi.type?.kind !== 'tensor') continue;
    const shape = vi.type.shape ?? [];
    out[vi.name] = shape.map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : 1));
  }
  return out;
}

/**
 * The cost units of `model` at a batch size. `precisionOverride` lets a caller (the search)
 * price a float graph as if named nodes ran in another precision, without quantizing it.
 */
export function costUnitsOf(
  model: Model,
  batch: number,
  precisionOverride?: (node: Node) => UnitPrecision | undefined,
): CostUnit[] {
  const g = model.graph;
  const shapes = inferShapes(g, g.nodes, batchedInputDims(model, batch));
  const prec = new Map<Node, UnitPrecision>();
  const precisionFor = (n: Node): UnitPrecision => {
    let p = prec.get(n);
    if (p === undefined) {
      p = precisionOverride?.(n) ?? precisionOf(g, n, shapes.values);
      prec.set(n, p);
    }
    return p;
  };
  const units: CostUnit[] = [];
  const boundary = (node: string, p: UnitPrecision, value: string): void => {
    units.push({ node, op: 'boundary', precision: p, macs: 0, elements: count(shapes.values.get(value)?.dims ?? []) });
  };
  for (const node of g.nodes) {
    if (PLUMBING.has(node.opType)) continue;
    const input = node.inputs[0] ?? '';
    const from = realProducer(g, input);
    const fused =
      FUSABLE_ACTIVATIONS.has(node.opType) &&
      from !== undefined &&
      (OP_KIND[from.opType] === 'conv' || OP_KIND[from.opType] === 'dense') &&
      g.consumersOf(from.outputs[0] ?? '').length <= 1;
    if (fused) {
      // Runs inside its producer's kernel, in its producer's precision.
      prec.set(node, precisionFor(from));
      continue;
    }
    const p = precisionFor(node);
    const fromPrecision = from ? precisionFor(from) : 'fp32';
    // A tensor changes precision on the way in: quantize (or cast) it; costed on the non-float side.
    if (input !== '' && !g.initializers.has(input) && fromPrecision !== p)
      boundary(`${node.name}:in`, p === 'fp32' ? fromPrecision : p, input);
    const out = shapes.values.get(node.outputs[0] ?? '');
    const ins = node.inputs.map((i) => shapes.values.get(i));
    const kind = OP_KIND[node.opType] ?? 'other';
    units.push({
      node: node.name,
      op: kind,
      precision: p,
      macs: macsOf(node, ins, out),
      elements: kind === 'pool' ? count(ins[0]?.dims ?? []) : out ? count(out.dims) : 0,
    });
  }
  for (const o of g.outputs) {
    const from = realProducer(g, o.name);
    if (from && precisionFor(from) !== 'fp32') boundary(`${o.name}:out`, precisionFor(from), o.name);
  }
  return units;
}
