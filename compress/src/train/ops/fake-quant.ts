import type { QParams } from '../../quant/int8.js';
import { qRange } from '../../quant/rounding.js';
import { tf } from '../backend.js';

/**
 * Fake quantization for quantization-aware training, in exactly the scheme `int8-static`
 * writes (`quant/int8.ts`): activations per tensor, q = clamp(round(x/s) + zp, qmin, qmax),
 * x' = (q − zp)·s; weights per output channel, symmetric, s_c = max|w_c|/127, q in [−127, 127];
 * biases as int32 with scale s_x·s_w[c]. Rounding is half to even, as `tf.round` and ONNX
 * QuantizeLinear both round.
 *
 * Gradients use the straight-through estimator (Bengio et al. 2013): rounding is treated as the
 * identity; an activation clamped at the ends of its range passes no gradient (as TensorFlow's
 * FakeQuantWithMinMaxVars), so the weights learn to keep values inside the calibrated range.
 */

/** Per-tensor fake quantization of an activation with fixed parameters. */
export function fakeQuantActivation(x: tf.Tensor, p: QParams): tf.Tensor {
  const { qmin, qmax } = qRange(p.type);
  const lo = (qmin - p.zeroPoint) * p.scale;
  const hi = (qmax - p.zeroPoint) * p.scale;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([xi]);
    const q = tf.clipByValue(tf.add(tf.round(tf.div(xi, p.scale)), p.zeroPoint), qmin, qmax);
    const value = tf.mul(tf.sub(q, p.zeroPoint), p.scale);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const xs = saved[0] as tf.Tensor;
      const inside = tf.logicalAnd(tf.greaterEqual(xs, lo), tf.lessEqual(xs, hi));
      return [tf.where(inside, dy as tf.Tensor, tf.zerosLike(dy as tf.Tensor))];
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor;
}

/** Per-channel scales of a weight along `axis` (max|w|/127, 1 for an all-zero channel), shaped to broadcast. */
export function weightScales(w: tf.Tensor, axis: number): tf.Tensor {
  const others = Array.from({ length: w.rank }, (_, i) => i).filter((i) => i !== axis);
  const absMax = tf.max(tf.abs(w), others, true);
  return tf.where(tf.greater(absMax, 0), tf.div(absMax, 127), tf.onesLike(absMax));
}

/** Symmetric per-channel int8 fake quantization of a weight along its output-channel axis. */
export function fakeQuantWeight(w: tf.Tensor, axis: number): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [wi] = args as [tf.Tensor];
    const s = weightScales(wi, axis);
    const value = tf.mul(tf.clipByValue(tf.round(tf.div(wi, s)), -127, 127), s);
    return { value, gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [dy as tf.Tensor] };
  });
  return op(w) as tf.Tensor;
}

/** int32 fake quantization of a bias [C] with scale inputScale·wScales[c] (wScales flattened to [C]). */
export function fakeQuantBias(b: tf.Tensor, inputScale: number, wScales: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [bi] = args as [tf.Tensor];
    const s = tf.mul(tf.reshape(wScales, [-1]), inputScale);
    const value = tf.mul(tf.round(tf.div(bi, s)), s);
    return { value, gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [dy as tf.Tensor] };
  });
  return op(b) as tf.Tensor;
}
