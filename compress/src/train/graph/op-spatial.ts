import { getAttrFloat, getAttrInt, getAttrInts, type Graph, type Node } from '../../ir/index.js';
import { tf } from '../backend.js';
import { depthwiseTrainable, groupedConvTrainable, type ConvGeometry } from '../ops/conv.js';
import {
  first,
  needFloatInit,
  resolvePads,
  spatialProblem,
  strides2d,
  type OpContext,
  type OpImpl,
} from './op-types.js';

/**
 * Spatial ops of the trainable set: Conv (plain, strided, grouped, depthwise), MaxPool,
 * AveragePool, the global pools and BatchNormalization, on NHWC values.
 */

function weightDims(graph: Graph, node: Node): number[] | undefined {
  return graph.initializers.get(node.inputs[1] ?? '')?.dims;
}

const conv: OpImpl = {
  check(node, graph) {
    const w = weightDims(graph, node);
    return (
      needFloatInit(graph, node, 1, 'weight') ??
      needFloatInit(graph, node, 2, 'bias') ??
      (w === undefined ? 'its weight is not an initializer' : undefined) ??
      spatialProblem(node, w ? w.length - 2 : undefined)
    );
  },
  weightSlots: (node) =>
    node.inputs[2]
      ? [
          { slot: 1, trainable: true },
          { slot: 2, trainable: true },
        ]
      : [{ slot: 1, trainable: true }],
  run(node, inputs, ctx) {
    const x = first(inputs, node) as tf.Tensor4D;
    const w = ctx.weight(node, 1) as tf.Tensor4D; // OIHW
    const [co, ciPerGroup, kh, kw] = w.shape;
    const group = getAttrInt(node, 'group', 1) ?? 1;
    const cin = x.shape[3];
    const strides = strides2d(node);
    const geometry: ConvGeometry = {
      strides,
      pads: resolvePads(node, [x.shape[1], x.shape[2]], [kh, kw], strides),
      inputGrad: !ctx.isDataInput(node.inputs[0] ?? ''),
    };
    let y: tf.Tensor4D;
    if (group > 1 && group === cin && ciPerGroup === 1) {
      // Depthwise: ONNX output channel c·m + q is group c's q-th filter, as in TensorFlow.
      const m = co / cin;
      const f = tf.transpose(tf.reshape(w, [cin, m, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
      y = depthwiseTrainable(x, f, geometry);
    } else {
      const hwio = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
      y = groupedConvTrainable(x, hwio, group, geometry);
    }
    return [node.inputs[2] ? tf.add(y, ctx.weight(node, 2)) : y];
  },
};

function poolProblem(node: Node): string | undefined {
  const k = getAttrInts(node, 'kernel_shape');
  if (!k) return 'no kernel_shape';
  if ((getAttrInt(node, 'ceil_mode', 0) ?? 0) !== 0) return 'ceil_mode 1 (only floor rounding is trainable)';
  if ((getAttrInt(node, 'storage_order', 0) ?? 0) !== 0) return 'storage_order 1';
  if (node.outputs.length > 1 && node.outputs[1]) return 'its Indices output is used';
  return spatialProblem(node, k.length);
}

function poolGeometry(node: Node, x: tf.Tensor4D) {
  const k = getAttrInts(node, 'kernel_shape') as [number, number];
  const strides = strides2d(node);
  const [t, l, b, r] = resolvePads(node, [x.shape[1], x.shape[2]], k, strides);
  const pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
    t + l + b + r === 0
      ? 'valid'
      : [
          [0, 0],
          [t, b],
          [l, r],
          [0, 0],
        ];
  return { k, strides, pad, pads: [t, l, b, r] as const };
}

const maxPool: OpImpl = {
  check: poolProblem,
  run(node, inputs) {
    const x = first(inputs, node) as tf.Tensor4D;
    const g = poolGeometry(node, x);
    // Padded positions never win (TensorFlow pools over the valid positions only, as ONNX means).
    return [tf.maxPool(x, g.k, g.strides, g.pad)];
  },
};

const averagePool: OpImpl = {
  check: poolProblem,
  run(node, inputs) {
    const x = first(inputs, node) as tf.Tensor4D;
    const g = poolGeometry(node, x);
    if ((getAttrInt(node, 'count_include_pad', 0) ?? 0) === 1 && g.pad !== 'valid') {
      // Padding counts in the divisor: pad with zeros explicitly, then pool without padding.
      const [t, l, b, r] = g.pads;
      const xp = tf.pad(x, [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ]);
      return [tf.avgPool(xp as tf.Tensor4D, g.k, g.strides, 'valid')];
    }
    return [tf.avgPool(x, g.k, g.strides, g.pad)];
  },
};

const globalAveragePool: OpImpl = {
  check: () => undefined,
  run: (node, inputs) => [tf.mean(first(inputs, node), [1, 2], true)],
};

const globalMaxPool: OpImpl = {
  check: () => undefined,
  run: (node, inputs) => [tf.max(first(inputs, node), [1, 2], true)],
};

/** Channel axis of a BatchNormalization input in internal layout, and the axes it reduces over. */
function bnAxes(rank: number): { reduce: number[]; reshape: (p: tf.Tensor) => tf.Tensor } {
  if (rank === 4 || rank === 2) return { reduce: rank === 4 ? [0, 1, 2] : [0], reshape: (p) => p };
  // [N,C,L…] in ONNX layout: parameters broadcast as [C,1,…].
  const trailing = Array(rank - 2).fill(1);
  return {
    reduce: [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)],
    reshape: (p) => tf.reshape(p, [p.shape[0] as number, ...trailing]),
  };
}

const batchNormalization: OpImpl = {
  check(node, graph) {
    if ((getAttrInt(node, 'training_mode', 0) ?? 0) !== 0) return 'training_mode 1 in the graph';
    if (node.outputs.slice(1).some((o) => o !== '')) return 'its running-statistics outputs are used';
    for (const [slot, what] of [
      [1, 'scale'],
      [2, 'bias'],
      [3, 'mean'],
      [4, 'variance'],
    ] as const) {
      const why = needFloatInit(graph, node, slot, what);
      if (why) return why;
    }
    return undefined;
  },
  weightSlots: () => [
    { slot: 1, trainable: true },
    { slot: 2, trainable: true },
    { slot: 3, trainable: false },
    { slot: 4, trainable: false },
  ],
  run(node, inputs, ctx: OpContext) {
    const x = first(inputs, node);
    const eps = getAttrFloat(node, 'epsilon', 1e-5) ?? 1e-5;
    const { reduce, reshape } = bnAxes(x.rank);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((s) => reshape(ctx.weight(node, s))) as tf.Tensor[];
    let mu = mean as tf.Tensor;
    let sigma2 = variance as tf.Tensor;
    if (ctx.training && ctx.trainBatchNorm) {
      const m = tf.moments(x, reduce);
      mu = m.mean;
      sigma2 = m.variance;
      const momentum = getAttrFloat(node, 'momentum', 0.9) ?? 0.9;
      ctx.recordStat(node.inputs[3] ?? '', m.mean, momentum);
      ctx.recordStat(node.inputs[4] ?? '', m.variance, momentum);
    }
    const inv = tf.div(scale as tf.Tensor, tf.sqrt(tf.add(sigma2, eps)));
    return [tf.add(tf.mul(tf.sub(x, mu), inv), bias as tf.Tensor)];
  },
};

/** Spatial ops by ONNX op type. */
export const SPATIAL_OPS: Readonly<Record<string, OpImpl>> = {
  Conv: conv,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  BatchNormalization: batchNormalization,
};
