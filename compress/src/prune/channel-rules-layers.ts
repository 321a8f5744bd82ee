/**
 * Channel rules of the layers that own channels (channel-rules.ts has the rest): Conv (plain,
 * grouped and depthwise), Gemm and MatMul consume the channels they read and produce spaces of
 * their own; BatchNormalization carries its input channels, its four constants cut with them.
 */
import { getAttrInt } from '../ir/index.js';
import { floatInit, numel } from '../passes/util.js';
import { blockInputs, blockLayout, dimsOf, newSpace, type Rule } from './channel-context.js';
import { channelCount } from './layout.js';
/** Conv: consumes its input channels (group = 1 or grouped), produces its filters; depthwise carries them. */
export const conv: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  const w = floatInit(ctx.graph, node.inputs[1]);
  const out = node.outputs[0] ?? '';
  const group = getAttrInt(node, 'group', 1) as number;
  const biasName = node.inputs[2];
  const biasOk = !biasName || floatInit(ctx.graph, biasName) !== undefined;
  if (ctx.layouts.has(node.inputs[1] ?? '') || ctx.layouts.has(biasName ?? ''))
    blockInputs(ctx, node, 'its weight is computed from these channels');
  if (!w || !biasOk || w.dims.length < 3) {
    if (x) blockLayout(ctx, x, `Conv ${node.name}: its weight or bias is not a float32 constant`);
    return;
  }
  const filters = w.dims[0] ?? 0;
  const perGroupIn = w.dims[1] ?? 0;
  const inChannels = perGroupIn * group;
  const depthwise = group > 1 && perGroupIn === 1;
  if (depthwise) {
    if (filters !== inChannels) {
      if (x) blockLayout(ctx, x, `Conv ${node.name}: depthwise with channel multiplier ${filters / inChannels}`);
      return;
    }
    // A depthwise filter sees one channel: output channel c is input channel c, so the channels
    // pass through (no new space) and cutting them cuts whole filters.
    if (x && x.axis === 1 && x.block === 1) {
      ctx.layouts.set(out, x);
      ctx.members.push({ kind: 'depthwise', node: node.name, tensor: out });
    } else if (x) blockLayout(ctx, x, `Conv ${node.name}: reads channels that are not on axis 1`);
    return;
  }
  if (x) {
    if (x.axis !== 1 || x.block !== 1) blockLayout(ctx, x, `Conv ${node.name}: reads channels that are not on axis 1`);
    else if (group > 1 && x.segments.length !== 1)
      blockLayout(ctx, x, `Conv ${node.name}: a grouped convolution reading a concatenation`);
    else {
      ctx.members.push({ kind: 'in', node: node.name, tensor: node.inputs[0] ?? '' });
      const only = x.segments[0];
      if (group > 1 && only?.space != null) ctx.spaces.requireBlocks(only.space, group);
    }
  }
  const id = newSpace(ctx, node, out, 1, filters);
  if (group > 1) ctx.spaces.requireBlocks(id, group);
};

/** Gemm: consumes axis 1 of A (no transA); produces N with a constant B and a [N] or [1,N] bias. */
export const gemm: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  const b = floatInit(ctx.graph, node.inputs[1]);
  if (ctx.layouts.has(node.inputs[1] ?? '') || ctx.layouts.has(node.inputs[2] ?? ''))
    blockInputs(ctx, node, 'its weight or bias is computed from these channels');
  const transA = getAttrInt(node, 'transA', 0) === 1;
  const transB = getAttrInt(node, 'transB', 0) === 1;
  if (b?.dims.length !== 2) {
    if (x) blockLayout(ctx, x, `Gemm ${node.name}: its weight is not a 2-D float32 constant`);
    return;
  }
  if (x) {
    if (transA || x.axis !== 1) blockLayout(ctx, x, `Gemm ${node.name}: reads the channels as rows (transA)`);
    else ctx.members.push({ kind: 'in', node: node.name, tensor: node.inputs[0] ?? '' });
  }
  const n = (transB ? b.dims[0] : b.dims[1]) ?? 0;
  const c = node.inputs[2] ? floatInit(ctx.graph, node.inputs[2]) : undefined;
  if (node.inputs[2] && (!c || numel(c.dims) !== n)) return;
  newSpace(ctx, node, node.outputs[0] ?? '', 1, n);
};

/** MatMul with a constant 2-D right side: consumes the last axis of A, produces N on the last axis. */
export const matmul: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  const b = floatInit(ctx.graph, node.inputs[1]);
  if (ctx.layouts.has(node.inputs[1] ?? ''))
    blockInputs(ctx, node, 'multiplies two activations (both sides would need the same cut)');
  const rank = dimsOf(ctx, node.inputs[0])?.length;
  if (b?.dims.length !== 2 || rank === undefined || rank < 2) {
    if (x) blockLayout(ctx, x, `MatMul ${node.name}: its right side is not a 2-D float32 constant`);
    return;
  }
  if (x) {
    if (x.axis !== rank - 1) blockLayout(ctx, x, `MatMul ${node.name}: the channels are on a batch axis`);
    else ctx.members.push({ kind: 'in', node: node.name, tensor: node.inputs[0] ?? '' });
  }
  newSpace(ctx, node, node.outputs[0] ?? '', rank - 1, b.dims[1] ?? 0);
};

/** BatchNormalization (inference): carries axis 1, its four per-channel constants are cut. */
export const batchNorm: Rule = (node, ctx) => {
  const x = ctx.layouts.get(node.inputs[0] ?? '');
  if (!x) return;
  const c = channelCount(x) * x.block;
  const params = [1, 2, 3, 4].map((i) => floatInit(ctx.graph, node.inputs[i]));
  if (node.outputs.filter((o) => o !== '').length > 1)
    return blockLayout(ctx, x, `BatchNormalization ${node.name}: training mode (extra outputs)`);
  if (x.axis !== 1 || params.some((p) => !p || numel(p.dims) !== c))
    return blockLayout(ctx, x, `BatchNormalization ${node.name}: parameters are not per-channel float32 constants`);
  ctx.layouts.set(node.outputs[0] ?? '', x);
  for (const slot of [1, 2, 3, 4])
    ctx.members.push({ kind: 'param', node: node.name, slot, axis: 0, tensor: node.inputs[0] ?? '' });
};
