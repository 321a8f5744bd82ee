import { tf } from '../backend.js';

/**
 * Trainable 2-D convolutions (NHWC input, explicit ONNX-style pads) with gradients built only
 * from ops the wasm backend implements well.
 *
 * The wasm backend has Conv2D, DepthwiseConv2dNative and Conv2DBackpropInput, but no
 * Conv2DBackpropFilter and no depthwise gradients, and its Conv2DBackpropInput is a plain loop
 * (measured ~7x slower than a forward Conv2D of the same size). So both gradients of a
 * convolution are expressed as forward convolutions, which run through XNNPACK:
 *
 * - input gradient: a full correlation of the output gradient (dilated by the stride) with the
 *   kernel rotated by 180° and its in/out channels swapped;
 * - filter gradient: a convolution of the padded input, batch and channels swapped, with the
 *   output gradient as the "filter", dilated by the stride:
 *   dW[i,j,c,o] = Σ_{b,h,w} Xpad[b, i + h·s, j + w·s, c] · dY[b,h,w,o].
 *
 * Depthwise filter gradients are a sum over one strided slice per kernel tap.
 */

/** ONNX `pads` of a 2-D op: [top, left, bottom, right]. */
export type Pads2D = readonly [number, number, number, number];

/** Geometry of one convolution. */
export interface ConvGeometry {
  readonly strides: readonly [number, number];
  readonly pads: Pads2D;
  /**
   * false when the input is a graph input (data): its gradient is never used, so it is not
   * computed (zeros are returned), which saves a full convolution per step on the first layer.
   */
  readonly inputGrad?: boolean;
}

type Explicit = [[number, number], [number, number], [number, number], [number, number]];

function explicit(p: Pads2D): Explicit | 'valid' {
  const [t, l, b, r] = p;
  return t === 0 && l === 0 && b === 0 && r === 0
    ? 'valid'
    : [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ];
}

/** Output size of one spatial axis. */
export function convOutSize(size: number, kernel: number, stride: number, before: number, after: number): number {
  return Math.floor((size + before + after - kernel) / stride) + 1;
}

/** Insert (s−1) zeros between the rows and columns of `dy` [B,Ho,Wo,C]: [B,(Ho−1)s+1,(Wo−1)s+1,C]. */
function dilate(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [b, ho, wo, c] = dy.shape;
  const spaced = tf.pad(tf.reshape(dy, [b, ho, 1, wo, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spaced, [b, ho * sh, wo * sw, c]) as tf.Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [b, (ho - 1) * sh + 1, (wo - 1) * sw + 1, c]);
}

/** Pad (positive) or crop (negative) each side of the two spatial axes. */
function padOrCrop(x: tf.Tensor4D, top: number, left: number, bottom: number, right: number): tf.Tensor4D {
  const padded =
    top > 0 || left > 0 || bottom > 0 || right > 0
      ? tf.pad(x, [
          [0, 0],
          [Math.max(0, top), Math.max(0, bottom)],
          [Math.max(0, left), Math.max(0, right)],
          [0, 0],
        ])
      : x;
  if (top >= 0 && left >= 0 && bottom >= 0 && right >= 0) return padded;
  const [b, h, w, c] = padded.shape;
  const t0 = Math.max(0, -top);
  const l0 = Math.max(0, -left);
  return tf.slice(padded, [0, t0, l0, 0], [b, h - t0 - Math.max(0, -bottom), w - l0 - Math.max(0, -right), c]);
}

/**
 * The gradient with respect to the input of a correlation with kernel size (kh, kw): a full
 * correlation of the dilated output gradient with `rotated` (the kernel rotated by 180°),
 * cropped or padded to the input's extent. `correlate` is conv2d or depthwise.
 */
function inputGradient(
  dy: tf.Tensor4D,
  xShape: readonly [number, number, number, number],
  kernel: readonly [number, number],
  g: ConvGeometry,
  correlate: (d: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D {
  const [, h, w] = xShape;
  const [kh, kw] = kernel;
  const [top, left] = g.pads;
  const d = dilate(dy, g.strides[0], g.strides[1]);
  // Full correlation rows r = 0 … d+kh−2 cover padded-input rows; input row i is row i + top.
  const pt = kh - 1 - top;
  const pl = kw - 1 - left;
  const pb = h - (d.shape[1] + pt - kh + 1);
  const pr = w - (d.shape[2] + pl - kw + 1);
  return correlate(padOrCrop(d, pt, pl, pb, pr));
}

/** The padded input cropped to the rows and columns the convolution actually reads. */
function usedInput(
  x: tf.Tensor4D,
  kernel: readonly [number, number],
  outHW: readonly [number, number],
  g: ConvGeometry,
) {
  const [t, l, b, r] = g.pads;
  const xp = padOrCrop(x, t, l, b, r);
  const rows = (outHW[0] - 1) * g.strides[0] + kernel[0];
  const cols = (outHW[1] - 1) * g.strides[1] + kernel[1];
  return xp.shape[1] === rows && xp.shape[2] === cols
    ? xp
    : tf.slice(xp, [0, 0, 0, 0], [xp.shape[0], rows, cols, xp.shape[3]]);
}

/**
 * conv2d of x [B,H,W,Ci] with w [kh,kw,Ci,Co] (HWIO), explicit pads and strides, no dilation.
 * Differentiable on the wasm backend.
 */
export function conv2dTrainable(x: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xi, wi]);
    const value = tf.conv2d(xi, wi, [g.strides[0], g.strides[1]], explicit(g.pads));
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const grad = dy as tf.Tensor4D;
      const [kh, kw] = ws.shape;
      const dx =
        g.inputGrad === false
          ? tf.zerosLike(xs)
          : inputGradient(grad, xs.shape, [kh, kw], g, (d) =>
              tf.conv2d(d, tf.transpose(tf.reverse(ws, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D, 1, 'valid'),
            );
      return [dx, filterGradient(xs, grad, [kh, kw], g)];
    };
    return { value, gradFunc };
  });
  return op(x, w) as tf.Tensor4D;
}

function filterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  kernel: readonly [number, number],
  g: ConvGeometry,
): tf.Tensor4D {
  const xp = usedInput(x, kernel, [dy.shape[1], dy.shape[2]], g);
  // Batch becomes the contracted channel axis: [Ci, Hp, Wp, B] ⋆ [Ho, Wo, B, Co] → [Ci, kh, kw, Co].
  const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
  const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
  const dw = tf.conv2d(xt, f, 1, 'valid', 'NHWC', [g.strides[0], g.strides[1]]);
  return tf.transpose(dw, [1, 2, 0, 3]) as tf.Tensor4D;
}

/**
 * Depthwise convolution of x [B,H,W,C] with w [kh,kw,C,m] (channel multiplier m; output
 * channel c·m + q), explicit pads and strides. Differentiable on the wasm backend.
 */
export function depthwiseTrainable(x: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xi, wi]);
    const value = tf.depthwiseConv2d(xi, wi, [g.strides[0], g.strides[1]], explicit(g.pads));
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const grad = dy as tf.Tensor4D;
      const [kh, kw, c, m] = ws.shape;
      const dx =
        g.inputGrad === false
          ? tf.zerosLike(xs)
          : inputGradient(grad, xs.shape, [kh, kw], g, (d) => {
              // Each of the C·m output channels correlates with its own rotated filter, then the m
              // contributions of one input channel are summed.
              const rot = tf.reshape(tf.reverse(ws, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
              const full = tf.depthwiseConv2d(d, rot, 1, 'valid');
              if (m === 1) return full;
              const [b, h, wd] = full.shape;
              return tf.sum(tf.reshape(full, [b, h, wd, c, m]), 4) as tf.Tensor4D;
            });
      return [dx, depthwiseFilterGradient(xs, grad, [kh, kw, c, m], g)];
    };
    return { value, gradFunc };
  });
  return op(x, w) as tf.Tensor4D;
}

function depthwiseFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  shape: readonly [number, number, number, number],
  g: ConvGeometry,
): tf.Tensor4D {
  const [kh, kw, c, m] = shape;
  const [b, ho, wo] = dy.shape;
  const xp = usedInput(x, [kh, kw], [ho, wo], g);
  const [sh, sw] = g.strides;
  const dy5 = tf.reshape(dy, [b, ho, wo, c, m]);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++) {
      const xs = tf.stridedSlice(
        xp,
        [0, i, j, 0],
        [b, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, c],
        [1, sh, sw, 1],
      );
      taps.push(tf.sum(tf.mul(tf.reshape(xs, [b, ho, wo, c, 1]), dy5), [0, 1, 2]));
    }
  return tf.reshape(tf.stack(taps), [kh, kw, c, m]) as tf.Tensor4D;
}

/**
 * Grouped convolution: `group` independent convolutions over equal channel slices, outputs
 * concatenated (ONNX Conv `group`). w is HWIO with I = Ci/group and O = Co.
 */
export function groupedConvTrainable(x: tf.Tensor4D, w: tf.Tensor4D, group: number, g: ConvGeometry): tf.Tensor4D {
  if (group === 1) return conv2dTrainable(x, w, g);
  const xs = tf.split(x, group, 3);
  const ws = tf.split(w, group, 3);
  return tf.concat(
    xs.map((xi, k) => conv2dTrainable(xi as tf.Tensor4D, ws[k] as tf.Tensor4D, g)),
    3,
  ) as tf.Tensor4D;
}
