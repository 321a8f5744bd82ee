import { EdgefleetError } from '@edgefleet/shared';
import { attr, getAttrInts, getAttrString, setAttr, type Model, type Node } from '../ir/index.js';

/**
 * Folds a max-pool stage into the stride of the convolution before it: Conv → Relu → MaxPool(p)
 * becomes Conv(stride × p) → Relu, keeping the convolution's weights. The pruned family of the
 * search uses it so a teacher that inherits its weights can also drop the pooling nodes and the
 * 4× full-resolution work of the convolution before them: at batch 1 on a small model, fewer
 * nodes and strided convolutions buy more than narrower layers (the per-node cost dominates).
 * The strided convolution samples the positions the pool would have picked the maximum among, so
 * the layers after it see different (sparser) features; the candidate's distillation retrains
 * for that. Only folds that keep every later shape unchanged are made: otherwise the layer after
 * the stage (e.g. a dense layer over the flattened map) would no longer fit.
 */
export function foldPoolsIntoStrides(model: Model, downsample: readonly ('pool' | 'strided')[]): number {
  const g = model.graph;
  const pools = g.nodes.filter((n) => n.opType === 'MaxPool');
  const sizes = spatialSizes(model);
  let folded = 0;
  pools.forEach((pool, i) => {
    if (downsample[i] !== 'strided') return;
    const chain = convBefore(model, pool);
    if (typeof chain === 'string') throw refuse(`${pool.name}: ${chain}`);
    const { conv, relu } = chain;
    const p = poolSize(pool);
    if (typeof p === 'string') throw refuse(`${pool.name}: ${p}`);
    const inHw = sizes.get(conv.inputs[0] ?? '');
    if (!inHw) throw refuse(`${conv.name}: the size of its input is not known`);
    const k = getAttrInts(conv, 'kernel_shape', []) ?? [];
    const s = getAttrInts(conv, 'strides', [1, 1]) ?? [1, 1];
    const pads = getAttrInts(conv, 'pads', [0, 0, 0, 0]) ?? [0, 0, 0, 0];
    for (const axis of [0, 1]) {
      const padded = (inHw[axis] as number) + (pads[axis] ?? 0) + (pads[axis + 2] ?? 0) - (k[axis] ?? 1);
      const pooled = Math.floor((Math.floor(padded / (s[axis] ?? 1)) + 1 - p) / p) + 1;
      const strided = Math.floor(padded / ((s[axis] ?? 1) * p)) + 1;
      if (pooled !== strided)
        throw refuse(`${pool.name}: a stride of ${p} on ${conv.name} gives ${strided} positions, the pool ${pooled}`);
    }
    setAttr(
      conv,
      attr.ints(
        'strides',
        s.map((x) => x * p),
      ),
    );
    g.replaceAllUses(pool.outputs[0] ?? '', relu?.outputs[0] ?? (conv.outputs[0] as string));
    g.removeNode(pool);
    folded++;
  });
  return folded;
}

function refuse(why: string): EdgefleetError {
  return new EdgefleetError('EF_ERR_COMPRESS_FAILED', `folding a pool into a stride: ${why}`, {});
}

/** The convolution (and its Relu) feeding a pool, each read by nothing else. */
function convBefore(model: Model, pool: Node): { conv: Node; relu: Node | undefined } | string {
  const g = model.graph;
  const onlyUse = (n: Node): boolean => g.consumersOf(n.outputs[0] ?? '').length === 1;
  let src = g.producerOf(pool.inputs[0] ?? '');
  let relu: Node | undefined;
  if (src?.opType === 'Relu') {
    if (!onlyUse(src)) return 'the Relu before it is read elsewhere too';
    relu = src;
    src = g.producerOf(src.inputs[0] ?? '');
  }
  if (src?.opType !== 'Conv') return 'no convolution before it';
  const autoPad = getAttrString(src, 'auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET') return `the convolution before it pads by auto_pad ${autoPad}`;
  if (!onlyUse(src)) return 'the convolution before it is read elsewhere too';
  return { conv: src, relu };
}

/** A square non-overlapping pool without padding: its size, or why it is not one. */
function poolSize(pool: Node): number | string {
  const k = getAttrInts(pool, 'kernel_shape', []) ?? [];
  const s = getAttrInts(pool, 'strides', [1, 1]) ?? [1, 1];
  const pads = getAttrInts(pool, 'pads', [0, 0, 0, 0]) ?? [0, 0, 0, 0];
  if (k.length !== 2 || k[0] !== k[1] || s[0] !== k[0] || s[1] !== k[1] || pads.some((x) => x !== 0))
    return 'only square pools whose stride is their size, without padding, fold';
  return k[0] as number;
}

/** Spatial [H, W] of every value a Conv or MaxPool reads in a plain chain, from the input's fixed dims. */
function spatialSizes(model: Model): Map<string, number[]> {
  const g = model.graph;
  const sizes = new Map<string, number[]>();
  const input = g.inputs.find((i) => !g.initializers.has(i.name));
  const dims = input?.type?.kind === 'tensor' ? (input.type.shape ?? []) : [];
  if (input && dims.length === 4 && typeof dims[2] === 'number' && typeof dims[3] === 'number')
    sizes.set(input.name, [dims[2], dims[3]]);
  for (const n of g.nodes) {
    const hw = sizes.get(n.inputs[0] ?? '');
    if (!hw) continue;
    const out = n.outputs[0] ?? '';
    if (n.opType === 'Relu' || n.opType === 'Dropout' || n.opType === 'Identity') sizes.set(out, hw);
    else if (n.opType === 'Conv' || n.opType === 'MaxPool') {
      const k = getAttrInts(n, 'kernel_shape', []) ?? [];
      const s = getAttrInts(n, 'strides', [1, 1]) ?? [1, 1];
      const pads = getAttrInts(n, 'pads', [0, 0, 0, 0]) ?? [0, 0, 0, 0];
      sizes.set(
        out,
        hw.map((x, a) => Math.floor((x + (pads[a] ?? 0) + (pads[a + 2] ?? 0) - (k[a] ?? 1)) / (s[a] ?? 1)) + 1),
      );
    }
  }
  return sizes;
}
