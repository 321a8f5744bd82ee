import {
  constantTensorOf,
  getAttrInt,
  getAttrInts,
  type DType,
  type Graph,
  type Node,
  type Tensor,
} from '../ir/index.js';
import { createIntValues, VALUE_RULES } from './shape-values.js';

/**
 * A small shape inference for memory estimates: concrete dims for the ops the zoo and the
 * quantization passes produce (plus common elementwise and layout ops). Anything else is
 * reported as unknown rather than guessed.
 */
export interface KnownValue {
  dims: number[];
  dtype: DType;
}

/**
 * Result: dims per value name; the op types whose outputs could not be inferred although
 * their inputs were known (the cause), and how many values stayed unknown (the effect).
 */
export interface ShapeInference {
  values: Map<string, KnownValue>;
  unknownOps: string[];
  unknownValues: number;
}

/** What a rule may look at besides its inputs' shapes. */
export interface ShapeCtx {
  graph: Graph;
  /** Known values of small integer tensors (see shape-values.ts). */
  ints: (name: string) => number[] | undefined;
}

/** Output shapes of one node from its inputs' shapes, or undefined when they cannot be known. */
export type ShapeRule = (node: Node, ins: Array<KnownValue | undefined>, ctx: ShapeCtx) => KnownValue[] | undefined;
type Rule = ShapeRule;

const SAME_SHAPE = [
  'Relu',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'LeakyRelu',
  'Clip',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Identity',
  'Softmax',
  'LogSoftmax',
  'Dropout',
  'Erf',
  'BatchNormalization',
  'Elu',
  'Selu',
  'PRelu',
  'Round',
  'Floor',
  'Ceil',
  'Reciprocal',
  'Not',
  'InstanceNormalization',
  'LayerNormalization',
  'Softplus',
  'Gelu',
  'Sin',
  'Cos',
];
const BROADCAST = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Equal',
  'Greater',
  'Less',
  'And',
  'Or',
  'Where',
];
const BOOL_OUT = new Set(['Equal', 'Greater', 'Less', 'And', 'Or', 'Not']);

/** Numpy-style broadcast of several shapes; undefined when they do not broadcast. */
export function broadcastDims(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v !== 1 && d !== 1 && v !== d) return undefined;
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

function floatsOf(t: Tensor | undefined): number[] | undefined {
  return t && t.dtype === 'float32' ? Array.from(t.data) : undefined;
}

/** Spatial output size of a conv/pool window [ONNX:Conv] [ONNX:MaxPool]. */
function windowed(node: Node, x: number[], kernel: number[], ceil = false): number[] {
  const rank = kernel.length;
  const strides = getAttrInts(node, 'strides') ?? kernel.map(() => 1);
  const dil = getAttrInts(node, 'dilations') ?? kernel.map(() => 1);
  const pads = getAttrInts(node, 'pads') ?? kernel.map(() => 0).concat(kernel.map(() => 0));
  const autoPad = node.attributes.find((a) => a.name === 'auto_pad');
  const same = autoPad?.kind === 'string' && new TextDecoder().decode(autoPad.value).startsWith('SAME');
  return kernel.map((k, i) => {
    const inSize = x[2 + i] as number;
    const s = strides[i] ?? 1;
    if (same) return Math.ceil(inSize / s);
    const eff = (dil[i] ?? 1) * (k - 1) + 1;
    const span = inSize + (pads[i] ?? 0) + (pads[i + rank] ?? 0) - eff;
    return (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  });
}

function gemm(node: Node, a: KnownValue, b: KnownValue): KnownValue[] {
  const m = getAttrInt(node, 'transA', 0) ? a.dims[1] : a.dims[0];
  const n = getAttrInt(node, 'transB', 0) ? b.dims[0] : b.dims[1];
  return [{ dims: [m as number, n as number], dtype: a.dtype }];
}

function matmul(a: KnownValue, b: KnownValue, dtype: DType): KnownValue[] | undefined {
  const ad = a.dims.length === 1 ? [1, ...a.dims] : a.dims;
  const bd = b.dims.length === 1 ? [...b.dims, 1] : b.dims;
  const batch = broadcastDims([ad.slice(0, -2), bd.slice(0, -2)]);
  if (!batch) return undefined;
  const dims = [...batch, ad[ad.length - 2] as number, bd[bd.length - 1] as number];
  if (a.dims.length === 1) dims.splice(dims.length - 2, 1);
  if (b.dims.length === 1) dims.pop();
  return [{ dims, dtype }];
}

function reshape(x: KnownValue, target: number[]): KnownValue[] | undefined {
  const total = x.dims.reduce((p, q) => p * q, 1);
  const dims = target.map((d, i) => (d === 0 ? (x.dims[i] as number) : d));
  const known = dims.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
  const out = dims.map((d) => (d === -1 ? total / known : d));
  return out.every((d) => Number.isInteger(d) && d >= 0) ? [{ dims: out, dtype: x.dtype }] : undefined;
}

const RULES: Record<string, Rule> = {
  Gemm: (n, [a, b]) => (a && b ? gemm(n, a, b) : undefined),
  MatMul: (_n, [a, b]) => (a && b ? matmul(a, b, a.dtype) : undefined),
  MatMulInteger: (_n, [a, b]) => (a && b ? matmul(a, b, 'int32') : undefined),
  DynamicQuantizeMatMul: (_n, [a, b]) => (a && b ? matmul(a, b, 'float32') : undefined),
  MatMulNBits: (n, [a]) =>
    a ? [{ dims: [...a.dims.slice(0, -1), getAttrInt(n, 'N') as number], dtype: a.dtype }] : undefined,
  Conv: (n, [x, w]) =>
    x && w
      ? [{ dims: [x.dims[0] as number, w.dims[0] as number, ...windowed(n, x.dims, w.dims.slice(2))], dtype: x.dtype }]
      : undefined,
  ConvInteger: (n, [x, w]) =>
    x && w
      ? [{ dims: [x.dims[0] as number, w.dims[0] as number, ...windowed(n, x.dims, w.dims.slice(2))], dtype: 'int32' }]
      : undefined,
  MaxPool: (n, [x]) =>
    x
      ? [
          {
            dims: [
              ...x.dims.slice(0, 2),
              ...windowed(n, x.dims, getAttrInts(n, 'kernel_shape') ?? [], getAttrInt(n, 'ceil_mode', 0) === 1),
            ],
            dtype: x.dtype,
          },
        ]
      : undefined,
  AveragePool: (n, [x]) =>
    x
      ? [
          {
            dims: [
              ...x.dims.slice(0, 2),
              ...windowed(n, x.dims, getAttrInts(n, 'kernel_shape') ?? [], getAttrInt(n, 'ceil_mode', 0) === 1),
            ],
            dtype: x.dtype,
          },
        ]
      : undefined,
  GlobalAveragePool: (_n, [x]) =>
    x ? [{ dims: [...x.dims.slice(0, 2), ...x.dims.slice(2).map(() => 1)], dtype: x.dtype }] : undefined,
  GlobalMaxPool: (_n, [x]) =>
    x ? [{ dims: [...x.dims.slice(0, 2), ...x.dims.slice(2).map(() => 1)], dtype: x.dtype }] : undefined,
  Flatten: (n, [x]) => {
    if (!x) return undefined;
    const a = getAttrInt(n, 'axis', 1) as number;
    const axis = a < 0 ? a + x.dims.length : a;
    const prod = (ds: number[]): number => ds.reduce((p, q) => p * q, 1);
    return [{ dims: [prod(x.dims.slice(0, axis)), prod(x.dims.slice(axis))], dtype: x.dtype }];
  },
  Reshape: (n, [x], ctx) => {
    const target = ctx.ints(n.inputs[1] ?? '');
    return x && target ? reshape(x, target) : undefined;
  },
  Transpose: (n, [x]) =>
    x
      ? [
          {
            dims: (getAttrInts(n, 'perm') ?? x.dims.map((_d, i) => x.dims.length - 1 - i)).map(
              (p) => x.dims[p] as number,
            ),
            dtype: x.dtype,
          },
        ]
      : undefined,
  Concat: (n, ins) => {
    if (ins.some((v) => !v) || ins.length === 0) return undefined;
    const first = ins[0] as KnownValue;
    const axis = ((getAttrInt(n, 'axis', 0) as number) + first.dims.length) % first.dims.length;
    const dims = [...first.dims];
    dims[axis] = ins.reduce((s, v) => s + ((v as KnownValue).dims[axis] as number), 0);
    return [{ dims, dtype: first.dtype }];
  },
  Constant: (n, _ins, ctx) => {
    const t = constantTensorOf(ctx.graph, n.outputs[0] ?? '');
    return t ? [{ dims: [...t.dims], dtype: t.dtype }] : undefined;
  },
  Cast: (n, [x]) =>
    x ? [{ dims: [...x.dims], dtype: CAST_TO[getAttrInt(n, 'to', 1) as number] ?? 'float32' }] : undefined,
  QuantizeLinear: (n, [x], ctx) =>
    x ? [{ dims: [...x.dims], dtype: constantTensorOf(ctx.graph, n.inputs[2] ?? '')?.dtype ?? 'uint8' }] : undefined,
  DequantizeLinear: (_n, [x]) => (x ? [{ dims: [...x.dims], dtype: 'float32' }] : undefined),
  Resize: (n, [x], ctx) => {
    const sizes = ctx.ints(n.inputs[3] ?? '');
    const scales = floatsOf(constantTensorOf(ctx.graph, n.inputs[2] ?? ''));
    if (!x) return undefined;
    if (sizes && sizes.length === x.dims.length) return [{ dims: sizes, dtype: x.dtype }];
    if (scales && scales.length === x.dims.length)
      return [{ dims: x.dims.map((d, i) => Math.floor(d * (scales[i] as number))), dtype: x.dtype }];
    return undefined;
  },
};

const CAST_TO: Record<number, DType> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
};

Object.assign(RULES, VALUE_RULES);
for (const op of SAME_SHAPE)
  RULES[op] = (_n, [x]) => (x ? [{ dims: [...x.dims], dtype: BOOL_OUT.has(op) ? 'bool' : x.dtype }] : undefined);
for (const op of BROADCAST) {
  RULES[op] = (_n, ins) => {
    if (ins.some((v) => !v) || ins.length === 0) return undefined;
    const dims = broadcastDims(ins.map((v) => (v as KnownValue).dims));
    const dtype =
      op === 'Where' ? (ins[1] as KnownValue).dtype : BOOL_OUT.has(op) ? 'bool' : (ins[0] as KnownValue).dtype;
    return dims ? [{ dims, dtype }] : undefined;
  };
}

/** Infer concrete dims from graph inputs' dims (`inputDims`), initializers and the rules above. */
export function inferShapes(
  graph: Graph,
  order: readonly Node[],
  inputDims: Readonly<Record<string, readonly number[]>>,
): ShapeInference {
  const values = new Map<string, KnownValue>();
  for (const t of graph.initializers.values()) values.set(t.name, { dims: [...t.dims], dtype: t.dtype });
  for (const vi of graph.inputs) {
    const dims = inputDims[vi.name];
    const dtype = vi.type?.kind === 'tensor' ? vi.type.elemType : undefined;
    if (dims && dtype && !values.has(vi.name)) values.set(vi.name, { dims: [...dims], dtype });
  }
  const ints = createIntValues(graph);
  const ctx: ShapeCtx = { graph, ints: ints.get };
  const unknown = new Set<string>();
  let unknownValues = 0;
  for (const node of order) {
    if (node.inputs.some((i) => i !== '' && !values.has(i))) {
      unknownValues += node.outputs.length;
      continue;
    }
    const rule = RULES[node.opType];
    let outs: KnownValue[] | undefined;
    try {
      outs = rule?.(
        node,
        node.inputs.map((i) => (i === '' ? undefined : values.get(i))),
        ctx,
      );
    } catch {
      // A malformed attribute makes this node's shape unknown, not the whole estimate.
      outs = undefined;
    }
    if (!outs || outs.some((o) => o.dims.some((d) => !Number.isSafeInteger(d) || d < 0))) {
      unknown.add(node.opType);
      unknownValues += node.outputs.length;
      continue;
    }
    outs.forEach((o, i) => {
      const name = node.outputs[i];
      if (name) values.set(name, o);
    });
    ints.propagate(node, values);
  }
  return { values, unknownOps: [...unknown].sort(), unknownValues };
}
