import { tf } from '../backend.js';

/**
 * Layout rule of the trainable graph: ONNX tensors of rank 4 are NCHW, TensorFlow.js's
 * convolutions and pools want NHWC, so every rank-4 value the interpreter holds is NHWC and
 * every other value is in ONNX layout. Ops that care about axis order (Flatten, Reshape,
 * Softmax, Concat, MatMul) convert at their edges; elementwise ops convert a lower-rank
 * operand, which ONNX broadcasts right-aligned against NCHW, into the NHWC frame.
 */

/** NHWC → NCHW for rank 4; other ranks unchanged. */
export function toOnnxLayout(v: tf.Tensor): tf.Tensor {
  return v.rank === 4 ? tf.transpose(v, [0, 3, 1, 2]) : v;
}

/** NCHW → NHWC for rank 4; other ranks unchanged. */
export function toInternalLayout(v: tf.Tensor): tf.Tensor {
  return v.rank === 4 ? tf.transpose(v, [0, 2, 3, 1]) : v;
}

/** ONNX axis (negative allowed) of a value of rank `rank` → the axis in the internal layout. */
export function internalAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`axis ${axis} out of range for rank ${rank}`);
  if (rank !== 4) return a;
  return [0, 3, 1, 2][a] as number;
}

/**
 * Bring a lower-rank operand into the frame of a rank-4 NHWC partner: ONNX aligns shapes on
 * the right against NCHW, so pad the shape with leading 1s to rank 4 and move C last.
 */
function intoNhwcFrame(v: tf.Tensor): tf.Tensor {
  const dims = [...Array(4 - v.rank).fill(1), ...v.shape];
  return tf.transpose(tf.reshape(v, dims), [0, 2, 3, 1]);
}

/** Apply a broadcasting binary op with ONNX semantics to two internal-layout values. */
export function broadcastBinary(a: tf.Tensor, b: tf.Tensor, fn: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): tf.Tensor {
  if (a.rank === 4 && b.rank < 4 && b.size > 1) return fn(a, intoNhwcFrame(b));
  if (b.rank === 4 && a.rank < 4 && a.size > 1) return fn(intoNhwcFrame(a), b);
  return fn(a, b);
}
