import { tf } from '../backend.js';

/**
 * Matrix product a [M,K] · b (b [K,N], or [N,K] with `transposeB`) whose forward and both
 * gradients only multiply untransposed matrices. The wasm backend runs BatchMatMul through
 * XNNPACK only when neither side is transposed; tf.matMul's own gradients ask for transposed
 * products (dA = dY·Bᵀ, dB = Aᵀ·dY), which fall back to a scalar loop. Materialising the
 * transposes first (a cheap copy) made the gradient of mnist-cnn-large's 9216×128 dense layer
 * ~4× faster (430 → 110 ms per batch of 64, measured side by side).
 */
export function matMulTrainable(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [ai, bi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([ai, bi]);
    const value = tf.matMul(ai, transposeB ? tf.transpose(bi) : bi);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      // With B' = B or Bᵀ the matrix used: dA = dY·B'ᵀ, dB' = Aᵀ·dY.
      const da = tf.matMul(g, transposeB ? bs : tf.transpose(bs));
      const dbUsed = tf.matMul(tf.transpose(as), g);
      return [da, transposeB ? tf.transpose(dbUsed) : dbUsed];
    };
    return { value, gradFunc };
  });
  return op(a, b) as tf.Tensor2D;
}
