/**
 * One rule per kind of node for the channel dependency analysis (channel-graph.ts): given the
 * channel layouts of a node's inputs, it records what the node does with the channels. A
 * weighted layer (Conv, Gemm, MatMul) *consumes* the channels it reads (its input slice is cut)
 * and *produces* a new space of its own; BatchNormalization, elementwise ops, pooling and pure
 * reshapes carry the channels through (their per-channel constants are cut); a depthwise Conv
 * carries them too (its filters are cut); two activations meeting in an Add or Mul couple their
 * spaces; a Concat along the channels lays several spaces side by side. Everything else that
 * reads channels blocks their space, with the node and the reason [STYLE 14]. The rules of the
 * weighted layers and BatchNorm are in channel-rules-layers.ts, the shared vocabulary in
 * channel-context.ts.
 */
import { constantTensorOf, getAttrInt, getAttrInts, type Node } from '../ir/index.js';
import { floatInit } from '../passes/util.js';
import { channelCount, layoutThroughReshape, type ChannelLayout, type Segment } from './layout.js';
import { traceElement } from './shape-trace.js';
import { blockInputs, blockLayout, dimsOf, type Rule, type RuleContext } from './channel-context.js';
import { batchNorm, conv, gemm, matmul } from './channel-rules-layers.js';

export { blockLayout, type Member, type RuleContext } from './channel-context.js';

/**
 * Elementwise ops (unary, binary, variadic; Clip and PRelu included): every operand is either
 * in channel spaces (they are coupled: a residual Add, a squeeze-excite Mul, hard-swish's
 * x·clip(x+3)), a constant (cut when it has one value per channel, kept when it broadcasts),
 * or another activation that must broadcast over the channels.
 */
const elementwise: Rule = (node, ctx) => {
  const out = node.outputs[0] ?? '';
  const outRank = dimsOf(ctx, out)?.length;
  const annotated = node.inputs
    .map((v, slot) => ({ v, slot, l: ctx.layouts.get(v) }))
    .filter((a): a is { v: string; slot: number; l: ChannelLayout } => a.l !== undefined);
  const first = annotated[0];
  if (!first) return;
  if (outRank === undefined) return blockInputs(ctx, node, 'its output shape is unknown (give calibration data)');
  if (node.outputs.filter((o) => o !== '' && ctx.graph.consumersOf(o).length > 0).length > 1)
    return blockInputs(ctx, node, 'a second output is used');
  const axisOf = (a: { v: string; l: ChannelLayout }): number =>
    a.l.axis + outRank - (dimsOf(ctx, a.v)?.length ?? outRank);
  const axis = axisOf(first);
  const total = channelCount(first.l) * first.l.block;
  for (const a of annotated.slice(1)) {
    const sameShape =
      axisOf(a) === axis &&
      a.l.block === first.l.block &&
      a.l.segments.length === first.l.segments.length &&
      a.l.segments.every((s, i) => s.size === first.l.segments[i]?.size);
    if (!sameShape) return blockInputs(ctx, node, 'joins tensors whose channels are laid out differently');
    a.l.segments.forEach((s, i) => {
      const t = first.l.segments[i]?.space;
      if (s.space !== null && t !== null && t !== undefined)
        ctx.spaces.union(t, s.space, `${node.opType} ${node.name}`);
      else if (s.space !== null || (t !== null && t !== undefined))
        blockInputs(ctx, node, 'joins pruned channels with channels no layer owns');
    });
  }
  for (let slot = 0; slot < node.inputs.length; slot++) {
    const v = node.inputs[slot] ?? '';
    if (v === '' || ctx.layouts.has(v)) continue;
    const dims = constantTensorOf(ctx.graph, v)?.dims ?? dimsOf(ctx, v);
    if (!dims) return blockInputs(ctx, node, `the shape of operand ${v} is unknown`);
    const at = axis - (outRank - dims.length);
    const d = at >= 0 ? dims[at] : undefined;
    if (d === undefined || d === 1) continue;
    const isConst = floatInit(ctx.graph, v) !== undefined;
    if (d !== total || !isConst)
      return blockInputs(
        ctx,
        node,
        `operand ${v} has ${d} values along the channels and is not a float32 constant of this group`,
      );
    ctx.members.push({ kind: 'param', node: node.name, slot, axis: at, tensor: first.v });
  }
  ctx.layouts.set(out, { axis, block: first.l.block, segments: first.l.segments });
};

/** Pooling over spatial axes carries axis 1. */
const pool: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  if (x.axis !== 1 || x.block !== 1) return blockLayout(ctx, x, `${node.opType} ${node.name}: channels not on axis 1`);
  if (node.outputs.filter((o) => o !== '').length > 1)
    return blockLayout(ctx, x, `${node.opType} ${node.name}: pooling indices are used`);
  ctx.layouts.set(node.outputs[0] ?? '', x);
};

/** Flatten, Squeeze, Unsqueeze and Reshape: pure reshapes, followed when channels stay channel-major. */
const reshape: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  if (ctx.layouts.has(node.inputs[1] ?? ''))
    return blockInputs(ctx, node, 'its target shape comes from these channels');
  const inDims = dimsOf(ctx, node.inputs[0]);
  const out = node.outputs[0] ?? '';
  const outDims = dimsOf(ctx, out);
  if (!inDims || !outDims)
    return blockLayout(ctx, x, `${node.opType} ${node.name}: shapes unknown (give calibration data)`);
  const mapped = layoutThroughReshape(x, inDims, outDims);
  if (!mapped) return blockLayout(ctx, x, `${node.opType} ${node.name}: mixes the channels with other axes`);
  if (node.opType === 'Reshape') {
    const why = reshapeTarget(node, ctx, x, out, mapped);
    if (why) return blockLayout(ctx, x, `Reshape ${node.name}: ${why}`);
  }
  ctx.layouts.set(out, mapped.layout);
};

/**
 * A Reshape's target must follow the cut: a -1 does, a 0 does when it copies the channel axis
 * itself, an element read from the shape of a tensor with the same channels does at run time,
 * and a constant element is rewritten (a 'reshape' member). Returns why not, otherwise.
 */
function reshapeTarget(
  node: Node,
  ctx: RuleContext,
  x: ChannelLayout,
  out: string,
  mapped: { layout: ChannelLayout; outAxis: number },
): string | undefined {
  const target = node.inputs[1] ?? '';
  const literal = ctx.ints(target)?.[mapped.outAxis];
  if (literal === undefined) return 'its target shape is not known';
  if (literal === -1) return undefined;
  if (literal === 0)
    return mapped.outAxis === x.axis && mapped.layout.block === x.block
      ? undefined
      : 'copies a dim that changes meaning';
  const origin = ctx.graph.initializers.has(target)
    ? ({ kind: 'constant', tensor: target, index: mapped.outAxis, reader: node.name, slot: 1 } as const)
    : traceElement(
        ctx.graph,
        target,
        mapped.outAxis,
        (v) => ctx.ints(v)?.length,
        (v) => dimsOf(ctx, v)?.length,
      );
  if (origin?.kind === 'constant') {
    const { tensor: constant, index, reader, slot } = origin;
    ctx.members.push({
      kind: 'reshape',
      node: node.name,
      tensor: out,
      axis: mapped.outAxis,
      constant,
      index,
      reader,
      slot,
    });
    return undefined;
  }
  const of = origin?.kind === 'shape' ? ctx.layouts.get(origin.of) : undefined;
  const same =
    of !== undefined &&
    origin?.kind === 'shape' &&
    of.axis === origin.dim &&
    of.block === mapped.layout.block &&
    of.segments.length === mapped.layout.segments.length &&
    of.segments.every((s, i) => s === mapped.layout.segments[i]);
  return same ? undefined : 'its target spells the channel count with a value edgefleet cannot trace to a constant';
}

/** Transpose moves the channel axis intact. */
const transpose: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  const rank = dimsOf(ctx, node.inputs[0])?.length;
  if (rank === undefined) return blockLayout(ctx, x, `Transpose ${node.name}: rank unknown`);
  const perm = getAttrInts(node, 'perm') ?? Array.from({ length: rank }, (_x, i) => rank - 1 - i);
  ctx.layouts.set(node.outputs[0] ?? '', { ...x, axis: perm.indexOf(x.axis) });
};

/** Concat along the channels lays spaces side by side; along another axis it couples them. */
const concat: Rule = (node, ctx) => {
  const annotated = node.inputs.map((v) => ctx.layouts.get(v));
  const first = annotated.find((l) => l !== undefined);
  if (!first) return;
  const rank = dimsOf(ctx, node.outputs[0])?.length;
  if (rank === undefined) return blockInputs(ctx, node, 'its output shape is unknown');
  const raw = getAttrInt(node, 'axis', 0) as number;
  const axis = raw < 0 ? raw + rank : raw;
  if (axis !== first.axis) return elementwise(node, ctx);
  const segments: Segment[] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const l = annotated[i];
    const d = dimsOf(ctx, node.inputs[i])?.[axis];
    if (l && l.axis === axis && l.block === first.block) segments.push(...l.segments);
    else if (!l && d !== undefined && d % first.block === 0) segments.push({ space: null, size: d / first.block });
    else return blockInputs(ctx, node, 'concatenates channels laid out differently');
  }
  ctx.layouts.set(node.outputs[0] ?? '', { axis, block: first.block, segments });
};

/** Reductions and softmax: followed only when they leave the channel axis alone. */
const reduceLike: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  const rank = dimsOf(ctx, node.inputs[0])?.length;
  if (rank === undefined) return blockLayout(ctx, x, `${node.opType} ${node.name}: rank unknown`);
  const norm = (a: number): number => (a < 0 ? a + rank : a);
  if (node.opType === 'Softmax' || node.opType === 'LogSoftmax') {
    const axis = norm(getAttrInt(node, 'axis', ctx.opset >= 13 ? -1 : 1) as number);
    // Before opset 13 softmax flattens everything from `axis` on, so the channels take part unless they come first.
    const touches = ctx.opset >= 13 ? axis === x.axis : x.axis >= axis;
    if (touches) return blockLayout(ctx, x, `${node.opType} ${node.name}: normalises over the channels`);
    ctx.layouts.set(node.outputs[0] ?? '', x);
    return;
  }
  const axes = (getAttrInts(node, 'axes') ?? ctx.ints(node.inputs[1] ?? ''))?.map(norm);
  if (!axes || axes.includes(x.axis))
    return blockLayout(ctx, x, `${node.opType} ${node.name}: reduces over the channels`);
  const keep = getAttrInt(node, 'keepdims', 1) === 1;
  const axis = keep ? x.axis : x.axis - axes.filter((a) => a < x.axis).length;
  ctx.layouts.set(node.outputs[0] ?? '', { ...x, axis });
};

/** Resize/Upsample carry the channels when they leave that axis' size alone. */
const resize: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  const a = dimsOf(ctx, node.inputs[0])?.[x.axis];
  const b = dimsOf(ctx, node.outputs[0])?.[x.axis];
  if (a === undefined || a !== b) return blockLayout(ctx, x, `${node.opType} ${node.name}: rescales the channel axis`);
  ctx.layouts.set(node.outputs[0] ?? '', x);
};

const ELEMENTWISE = [
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Erf',
  'Gelu',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Identity',
  'Dropout',
  'Cast',
  'Mish',
  'ThresholdedRelu',
  'Clip',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Max',
  'Min',
  'Pow',
  'Sum',
  'Mean',
];

/** The rule for each op type the analysis follows. */
export const CHANNEL_RULES: Readonly<Record<string, Rule>> = {
  Conv: conv,
  Gemm: gemm,
  MatMul: matmul,
  BatchNormalization: batchNorm,
  ...Object.fromEntries(ELEMENTWISE.map((op) => [op, elementwise])),
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: pool,
  GlobalMaxPool: pool,
  LpPool: pool,
  GlobalLpPool: pool,
  Flatten: reshape,
  Reshape: reshape,
  Squeeze: reshape,
  Unsqueeze: reshape,
  Transpose: transpose,
  Concat: concat,
  Softmax: reduceLike,
  LogSoftmax: reduceLike,
  ReduceMean: reduceLike,
  ReduceSum: reduceLike,
  ReduceMax: reduceLike,
  ReduceMin: reduceLike,
  ReduceL2: reduceLike,
  Resize: resize,
  Upsample: resize,
  // Reading a shape is harmless: values computed from it follow the pruned shape at run time.
  Shape: () => undefined,
  Size: () => undefined,
};
