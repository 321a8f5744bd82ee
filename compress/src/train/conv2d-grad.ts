import { tf } from './backend.js';

/**
 * 2-D convolution (NHWC input, HWIO filter, stride 1, symmetric `same` padding for odd
 * kernels) with a gradient built only from ops the wasm backend implements.
 *
 * The wasm backend has Conv2D and Conv2DBackpropInput but no Conv2DBackpropFilter, so
 * `tf.conv2d` cannot be trained there. The filter gradient is a correlation of the padded
 * input with the output gradient: for each kernel offset (i, j),
 * dW[i,j] = Xpad[:, i:i+H, j:j+W, :]ᵀ · dY, one matMul of [Cin, B·H·W] × [B·H·W, Cout].
 */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  // customGrad passes `save` as the last argument; tensors used by the gradient must go
  // through it, because the forward pass's scope disposes everything else.
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xi, wi]);
    const value = tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same');
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const g = dy as tf.Tensor4D;
      const dx = tf.conv2dTranspose(g, ws, xs.shape, 1, 'same');
      return [dx, filterGrad(xs, g, ws.shape)];
    };
    return { value, gradFunc };
  });
  return op(x, w) as tf.Tensor4D;
}

function filterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: [number, number, number, number]): tf.Tensor4D {
  const [kh, kw, cin, cout] = wShape;
  const [b, h, w] = x.shape;
  const ph = (kh - 1) / 2;
  const pw = (kw - 1) / 2;
  return tf.tidy(() => {
    const xp = tf.pad(x, [
      [0, 0],
      [ph, ph],
      [pw, pw],
      [0, 0],
    ]);
    const dy2 = tf.reshape(dy, [b * h * w, cout]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const patch = tf.reshape(tf.slice(xp, [0, i, j, 0], [b, h, w, cin]), [b * h * w, cin]);
        taps.push(tf.matMul(patch, dy2, true, false));
      }
    }
    return tf.reshape(tf.stack(taps), [kh, kw, cin, cout]);
  });
}
