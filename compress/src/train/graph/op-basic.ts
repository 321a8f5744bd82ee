import { getAttrFloat, getAttrInt, type Graph, type Node } from '../../ir/index.js';
import { tf } from '../backend.js';
import { matMulTrainable } from '../ops/matmul.js';
import { broadcastBinary, internalAxis, toInternalLayout, toOnnxLayout } from './layout.js';
import { first, needFloatInit, type OpContext, type OpImpl } from './op-types.js';

/**
 * Dense, elementwise, activation and shape ops of the trainable set. Values arrive in internal
 * layout (rank 4 = NHWC); ops whose meaning depends on axis order convert at their edges.
 */

const ok = (): undefined => undefined;

function initializerOf(graph: Graph, node: Node, slot: number) {
  const name = node.inputs[slot];
  return name ? graph.initializers.get(name) : undefined;
}

const gemm: OpImpl = {
  check(node, graph) {
    if ((getAttrInt(node, 'transA', 0) ?? 0) !== 0) return 'transA 1';
    return needFloatInit(graph, node, 1, 'B') ?? needFloatInit(graph, node, 2, 'C');
  },
  weightSlots: (node) =>
    node.inputs[2]
      ? [
          { slot: 1, trainable: true },
          { slot: 2, trainable: true },
        ]
      : [{ slot: 1, trainable: true }],
  run(node, inputs, ctx) {
    const a = toOnnxLayout(first(inputs, node)) as tf.Tensor2D;
    const b = ctx.weight(node, 1) as tf.Tensor2D;
    const alpha = getAttrFloat(node, 'alpha', 1) ?? 1;
    const beta = getAttrFloat(node, 'beta', 1) ?? 1;
    let y: tf.Tensor = matMulTrainable(a, b, (getAttrInt(node, 'transB', 0) ?? 0) === 1);
    if (alpha !== 1) y = tf.mul(y, alpha);
    if (node.inputs[2]) {
      const c = ctx.weight(node, 2);
      y = tf.add(y, beta === 1 ? c : tf.mul(c, beta));
    }
    return [y];
  },
};

/** Float initializer operands of MatMul and the elementwise ops are read as weights. */
function initializerSlots(trainable: (numel: number) => boolean) {
  return (node: Node, graph: Graph) =>
    node.inputs.flatMap((name, slot) => {
      const t = graph.initializers.get(name);
      return t?.dtype === 'float32' ? [{ slot, trainable: trainable(t.data.length) }] : [];
    });
}

function operand(node: Node, inputs: ReadonlyArray<tf.Tensor | undefined>, slot: number, ctx: OpContext): tf.Tensor {
  const v = inputs[slot];
  if (v) return v;
  // An initializer operand arrives in ONNX layout; rank-4 values live in NHWC.
  return toInternalLayout(ctx.weight(node, slot));
}

const matMul: OpImpl = {
  check(node, graph) {
    for (const slot of [0, 1]) {
      const t = initializerOf(graph, node, slot);
      if (t && t.dtype !== 'float32') return `input ${slot} is a ${t.dtype} initializer`;
    }
    return undefined;
  },
  run(node, inputs, ctx) {
    const a = toOnnxLayout(inputs[0] ?? ctx.weight(node, 0));
    const b = toOnnxLayout(inputs[1] ?? ctx.weight(node, 1));
    if (b.rank !== 2 || a.rank < 2) throw new Error(`MatMul of ranks ${a.rank} and ${b.rank} (needs [...,K] × [K,N])`);
    if (a.rank === 2) return [matMulTrainable(a as tf.Tensor2D, b as tf.Tensor2D)];
    const k = a.shape[a.rank - 1] as number;
    const y = matMulTrainable(tf.reshape(a, [-1, k]) as tf.Tensor2D, b as tf.Tensor2D);
    return [toInternalLayout(tf.reshape(y, [...a.shape.slice(0, -1), b.shape[1] as number]))];
  },
};

function binary(fn: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, trainableOperands: boolean): OpImpl {
  return {
    check(node, graph) {
      for (const slot of [0, 1]) {
        const t = initializerOf(graph, node, slot);
        if (t && t.dtype !== 'float32') return `input ${slot} is a ${t.dtype} initializer`;
      }
      return node.inputs.length === 2 ? undefined : `${node.inputs.length} inputs`;
    },
    run: (node, inputs, ctx) => [broadcastBinary(operand(node, inputs, 0, ctx), operand(node, inputs, 1, ctx), fn)],
    // Vectors (biases, scales) train; scalar constants (x·(1/6) in a hard-swish) stay fixed.
    weightSlots: initializerSlots((n) => trainableOperands && n > 1),
  };
}

function unary(fn: (x: tf.Tensor, node: Node) => tf.Tensor): OpImpl {
  return { check: ok, run: (node, inputs) => [fn(first(inputs, node), node)] };
}

function hardSigmoid(x: tf.Tensor, alpha: number, beta: number): tf.Tensor {
  return tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1);
}

function scalarOf(graph: Graph, name: string | undefined): number | undefined {
  if (!name) return undefined;
  const t = graph.initializers.get(name);
  return t && t.data.length === 1 ? Number(t.data[0]) : undefined;
}

const clip: OpImpl = {
  check(node, graph) {
    for (const slot of [1, 2]) {
      const name = node.inputs[slot];
      if (name && scalarOf(graph, name) === undefined) return `its bound ${name} is not a scalar initializer`;
    }
    return undefined;
  },
  weightSlots: (node) => [1, 2].filter((s) => node.inputs[s]).map((slot) => ({ slot, trainable: false })),
  run(node, inputs, ctx) {
    const lo = scalarOf(ctx.graph, node.inputs[1]) ?? getAttrFloat(node, 'min', -3.4028234663852886e38);
    const hi = scalarOf(ctx.graph, node.inputs[2]) ?? getAttrFloat(node, 'max', 3.4028234663852886e38);
    return [tf.clipByValue(first(inputs, node), lo ?? -Infinity, hi ?? Infinity)];
  },
};

/** Softmax over one axis, written out so any axis of any rank works (tf.softmax takes the last only). */
function softmaxAlong(x: tf.Tensor, axis: number): tf.Tensor {
  const shifted = tf.sub(x, tf.max(x, axis, true));
  const e = tf.exp(shifted);
  return tf.div(e, tf.sum(e, axis, true));
}

const softmax: OpImpl = {
  check: ok,
  run(node, inputs, ctx) {
    const x = first(inputs, node);
    const axis = getAttrInt(node, 'axis', ctx.opset >= 13 ? -1 : 1) ?? -1;
    if (ctx.opset >= 13 || x.rank === 2) return [softmaxAlong(x, internalAxis(axis, x.rank))];
    // Before opset 13 the input is coerced to 2-D at `axis` and normalised over the second dim.
    const v = toOnnxLayout(x);
    const a = axis < 0 ? axis + v.rank : axis;
    const rows = v.shape.slice(0, a).reduce((p, d) => p * d, 1);
    const y = softmaxAlong(tf.reshape(v, [rows, -1]), 1);
    return [toInternalLayout(tf.reshape(y, v.shape))];
  },
};

const flatten: OpImpl = {
  check: ok,
  run(node, inputs) {
    const v = toOnnxLayout(first(inputs, node));
    const axis0 = getAttrInt(node, 'axis', 1) ?? 1;
    const axis = axis0 < 0 ? axis0 + v.rank : axis0;
    const rows = v.shape.slice(0, axis).reduce((p, d) => p * d, 1);
    return [tf.reshape(v, [rows, -1])];
  },
};

const reshape: OpImpl = {
  check(node, graph) {
    if ((getAttrInt(node, 'allowzero', 0) ?? 0) !== 0) return 'allowzero 1';
    const t = initializerOf(graph, node, 1);
    return t && (t.dtype === 'int64' || t.dtype === 'int32') ? undefined : 'its shape is not an integer initializer';
  },
  weightSlots: () => [{ slot: 1, trainable: false }],
  run(node, inputs, ctx) {
    const v = toOnnxLayout(first(inputs, node));
    const shape = ctx.ints(node.inputs[1] ?? '') ?? [];
    // [ONNX:Reshape] 0 copies the input's dim, -1 is inferred.
    const dims = shape.map((d, i) => (d === 0 ? (v.shape[i] as number) : d));
    return [toInternalLayout(tf.reshape(v, dims))];
  },
};

const concat: OpImpl = {
  check: (node, graph) =>
    node.inputs.some((i) => graph.initializers.has(i)) ? 'an initializer among its inputs' : undefined,
  run(node, inputs) {
    const xs = inputs.filter((x): x is tf.Tensor => x !== undefined);
    const rank = xs[0]?.rank ?? 1;
    return [tf.concat(xs, internalAxis(getAttrInt(node, 'axis', 0) ?? 0, rank))];
  },
};

const passThrough: OpImpl = {
  check: (node) => (node.outputs.slice(1).some((o) => o !== '') ? 'its mask output is used' : undefined),
  run: (node, inputs) => [first(inputs, node)],
};

/** Basic ops by ONNX op type. */
export const BASIC_OPS: Readonly<Record<string, OpImpl>> = {
  Gemm: gemm,
  MatMul: { ...matMul, weightSlots: initializerSlots(() => true) },
  Add: binary(tf.add, true),
  Sub: binary(tf.sub, true),
  Mul: binary(tf.mul, true),
  Div: binary(tf.div, false),
  Relu: unary((x) => tf.relu(x)),
  LeakyRelu: unary((x, n) => tf.leakyRelu(x, getAttrFloat(n, 'alpha', 0.01) ?? 0.01)),
  Sigmoid: unary((x) => tf.sigmoid(x)),
  Tanh: unary((x) => tf.tanh(x)),
  HardSigmoid: unary((x, n) =>
    hardSigmoid(x, getAttrFloat(n, 'alpha', 0.2) ?? 0.2, getAttrFloat(n, 'beta', 0.5) ?? 0.5),
  ),
  // [ONNX:HardSwish] x · max(0, min(1, x/6 + 1/2)).
  HardSwish: unary((x) => tf.mul(x, hardSigmoid(x, 1 / 6, 0.5))),
  Clip: clip,
  Softmax: softmax,
  Flatten: flatten,
  Reshape: reshape,
  Concat: concat,
  Identity: passThrough,
  Dropout: passThrough,
};
