import { constantTensorOf, getAttrInt, getAttrInts, type Graph, type Node } from '../ir/index.js';
import type { KnownValue, ShapeRule } from './shapes.js';

/**
 * Known values of small integer tensors (shapes, axes, slice bounds), so shape arithmetic such
 * as Shape → Cast → Slice → Concat → Reshape (PaddleOCR's exporters write it) resolves to
 * concrete dims. Only 1-D or scalar integer tensors of at most {@link MAX_VALUE_ELEMENTS}.
 */
export const MAX_VALUE_ELEMENTS = 64;

const INT_TYPES = new Set(['int64', 'int32']);

/** A store of known integer values by value name. */
export interface IntValues {
  get(name: string): number[] | undefined;
  /** After `node`'s output shapes are known, derive its output values when it computes on shapes. */
  propagate(node: Node, shapes: ReadonlyMap<string, KnownValue>): void;
}

function sliceBounds(len: number, start: number, end: number, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
  const s = start < 0 ? start + len : start;
  const e = end < 0 ? end + len : end;
  const out: number[] = [];
  if (step > 0) for (let i = clamp(s, 0, len); i < clamp(e, 0, len); i += step) out.push(i);
  else for (let i = clamp(s, -1, len - 1); i > clamp(e, -1, len - 1); i += step) out.push(i);
  return out;
}

/** Indices selected by a Slice along an axis of length `len`, from constant inputs. */
export function sliceIndices(len: number, starts: number, ends: number, step = 1): number[] {
  return step === 0 ? [] : sliceBounds(len, starts, ends, step);
}

export function createIntValues(graph: Graph): IntValues {
  const known = new Map<string, number[]>();
  const get = (name: string): number[] | undefined => {
    if (name === '') return undefined;
    const hit = known.get(name);
    if (hit) return hit;
    const t = constantTensorOf(graph, name);
    if (!t || !INT_TYPES.has(t.dtype) || t.dims.length > 1 || (t.dims[0] ?? 1) > MAX_VALUE_ELEMENTS) return undefined;
    const v = Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
    known.set(name, v);
    return v;
  };
  const arith: Record<string, (a: number, b: number) => number> = {
    Add: (a, b) => a + b,
    Sub: (a, b) => a - b,
    Mul: (a, b) => a * b,
    Div: (a, b) => Math.trunc(a / b),
  };
  const propagate = (node: Node, shapes: ReadonlyMap<string, KnownValue>): void => {
    const out = node.outputs[0];
    if (!out) return;
    const ins = node.inputs.map(get);
    let v: number[] | undefined;
    const op = node.opType;
    if (op === 'Shape') v = shapes.get(node.inputs[0] ?? '')?.dims;
    else if (op === 'Cast' || op === 'Identity' || op === 'Squeeze' || op === 'Unsqueeze') v = ins[0];
    else if (op === 'Concat' && ins.every((x) => x)) v = ins.flatMap((x) => x as number[]);
    else if (op === 'Gather' && ins[0] && ins[1])
      v = ins[1].map((i) => (ins[0] as number[])[i < 0 ? i + (ins[0] as number[]).length : i] as number);
    else if (op === 'Slice' && ins[0]) {
      const b = sliceArgs(node, get);
      if (b)
        v = sliceIndices(ins[0].length, b.starts[0] ?? 0, b.ends[0] ?? 0, b.steps[0] ?? 1).map(
          (i) => (ins[0] as number[])[i] as number,
        );
    } else if (arith[op] && ins[0] && ins[1]) {
      const [a, b] = [ins[0], ins[1]];
      const n = Math.max(a.length, b.length);
      v = Array.from({ length: n }, (_x, i) =>
        (arith[op] as (p: number, q: number) => number)(
          a[a.length === 1 ? 0 : i] as number,
          b[b.length === 1 ? 0 : i] as number,
        ),
      );
    }
    if (v && v.length <= MAX_VALUE_ELEMENTS && v.every(Number.isFinite)) known.set(out, v);
  };
  return { get, propagate };
}

/** Slice bounds from inputs (opset ≥ 10) or attributes (opset < 10) [ONNX:Slice]. */
function sliceArgs(
  n: Node,
  ints: (name: string) => number[] | undefined,
): { starts: number[]; ends: number[]; axes: number[] | undefined; steps: number[] } | undefined {
  const starts = getAttrInts(n, 'starts') ?? ints(n.inputs[1] ?? '');
  const ends = getAttrInts(n, 'ends') ?? ints(n.inputs[2] ?? '');
  if (!starts || !ends) return undefined;
  const axes = getAttrInts(n, 'axes') ?? ints(n.inputs[3] ?? '');
  return { starts, ends, axes, steps: ints(n.inputs[4] ?? '') ?? starts.map(() => 1) };
}

function axesOf(node: Node, ints: (name: string) => number[] | undefined, slot: number): number[] | undefined {
  return getAttrInts(node, 'axes') ?? ints(node.inputs[slot] ?? '');
}

const norm = (axes: number[], rank: number): number[] => axes.map((a) => (a < 0 ? a + rank : a));

/** Rules for shape-computation and layout ops that need known integer values. */
export const VALUE_RULES: Record<string, ShapeRule> = {
  Shape: (_n, [x]) => (x ? [{ dims: [x.dims.length], dtype: 'int64' }] : undefined),
  Gather: (n, [x, idx]) => {
    if (!x || !idx) return undefined;
    const axis = norm([getAttrInt(n, 'axis', 0) as number], x.dims.length)[0] as number;
    return [{ dims: [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)], dtype: x.dtype }];
  },
  Squeeze: (n, [x], ctx) => {
    if (!x) return undefined;
    const axes = axesOf(n, ctx.ints, 1);
    const drop = new Set(axes ? norm(axes, x.dims.length) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
    return [{ dims: x.dims.filter((_d, i) => !drop.has(i)), dtype: x.dtype }];
  },
  Unsqueeze: (n, [x], ctx) => {
    const axes = axesOf(n, ctx.ints, 1);
    if (!x || !axes) return undefined;
    const rank = x.dims.length + axes.length;
    const at = new Set(norm(axes, rank));
    const rest = [...x.dims];
    return [
      { dims: Array.from({ length: rank }, (_d, i) => (at.has(i) ? 1 : (rest.shift() as number))), dtype: x.dtype },
    ];
  },
  Slice: (n, [x], ctx) => {
    const b = sliceArgs(n, ctx.ints);
    if (!x || !b) return undefined;
    const { starts, ends, steps } = b;
    const axes = norm(b.axes ?? starts.map((_s, i) => i), x.dims.length);
    const dims = [...x.dims];
    axes.forEach((a, i) => {
      dims[a] = sliceIndices(x.dims[a] as number, starts[i] as number, ends[i] as number, steps[i] ?? 1).length;
    });
    return [{ dims, dtype: x.dtype }];
  },
  ConvTranspose: (n, [x, w]) => {
    if (!x || !w) return undefined;
    const k = w.dims.slice(2);
    const strides = getAttrInts(n, 'strides') ?? k.map(() => 1);
    const pads = getAttrInts(n, 'pads') ?? [...k, ...k].map(() => 0);
    const outPad = getAttrInts(n, 'output_padding') ?? k.map(() => 0);
    const dil = getAttrInts(n, 'dilations') ?? k.map(() => 1);
    const spatial = k.map(
      (kk, i) =>
        (strides[i] ?? 1) * ((x.dims[2 + i] as number) - 1) +
        (outPad[i] ?? 0) +
        ((kk - 1) * (dil[i] ?? 1) + 1) -
        (pads[i] ?? 0) -
        (pads[i + k.length] ?? 0),
    );
    return [
      {
        dims: [x.dims[0] as number, (w.dims[1] as number) * (getAttrInt(n, 'group', 1) as number), ...spatial],
        dtype: x.dtype,
      },
    ];
  },
};

for (const op of ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin']) {
  VALUE_RULES[op] = (n, [x], ctx) => {
    if (!x) return undefined;
    const axes = norm(axesOf(n, ctx.ints, 1) ?? x.dims.map((_d, i) => i), x.dims.length);
    const keep = getAttrInt(n, 'keepdims', 1) === 1;
    const dims = x.dims.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
    return [{ dims, dtype: x.dtype }];
  };
}
