import t from 'tap';
import { createRng } from '@edgefleet/compress/data/prng';
import { tf, useTrainBackend } from '@edgefleet/compress/train/backend';
import { matMulTrainable } from '@edgefleet/compress/train/ops/matmul';
import {
  conv2dTrainable,
  depthwiseTrainable,
  groupedConvTrainable,
  type Pads2D,
} from '@edgefleet/compress/train/ops/conv';

/**
 * Every custom convolution gradient against TensorFlow.js's own gradients on the pure-JS cpu
 * backend (which has all of them), for the geometries students and imported models use.
 */

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};
const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

type Case = {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  strides: [number, number];
  pads: Pads2D;
  kind: 'conv' | 'depthwise' | 'grouped';
  group?: number;
};

const CASES: Case[] = [
  { name: '3x3 stride 1 pad 1', x: [2, 6, 5, 3], w: [3, 3, 3, 4], strides: [1, 1], pads: [1, 1, 1, 1], kind: 'conv' },
  {
    name: '3x3 stride 2 pad 1, odd size',
    x: [2, 7, 7, 3],
    w: [3, 3, 3, 4],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    kind: 'conv',
  },
  {
    name: '3x3 stride 2 asymmetric pads (SAME_UPPER)',
    x: [2, 8, 6, 2],
    w: [3, 3, 2, 5],
    strides: [2, 2],
    pads: [0, 0, 1, 1],
    kind: 'conv',
  },
  { name: '5x5 valid stride 1', x: [1, 9, 8, 2], w: [5, 5, 2, 3], strides: [1, 1], pads: [0, 0, 0, 0], kind: 'conv' },
  {
    name: '1x1 stride 2 (rows left unread)',
    x: [2, 6, 6, 4],
    w: [1, 1, 4, 3],
    strides: [2, 2],
    pads: [0, 0, 0, 0],
    kind: 'conv',
  },
  {
    name: '3x3 pads wider than the kernel',
    x: [1, 4, 4, 2],
    w: [3, 3, 2, 2],
    strides: [1, 1],
    pads: [3, 2, 3, 2],
    kind: 'conv',
  },
  { name: 'strides 2x1', x: [2, 7, 6, 2], w: [3, 2, 2, 3], strides: [2, 1], pads: [1, 0, 1, 1], kind: 'conv' },
  {
    name: 'depthwise 3x3 stride 1',
    x: [2, 6, 6, 4],
    w: [3, 3, 4, 1],
    strides: [1, 1],
    pads: [1, 1, 1, 1],
    kind: 'depthwise',
  },
  {
    name: 'depthwise 3x3 stride 2',
    x: [2, 7, 7, 3],
    w: [3, 3, 3, 1],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    kind: 'depthwise',
  },
  {
    name: 'depthwise 5x5 stride 2 multiplier 2',
    x: [2, 9, 8, 3],
    w: [5, 5, 3, 2],
    strides: [2, 2],
    pads: [2, 2, 2, 2],
    kind: 'depthwise',
  },
  {
    name: 'grouped (2 groups) stride 2',
    x: [2, 6, 6, 4],
    w: [3, 3, 2, 6],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    kind: 'grouped',
    group: 2,
  },
];

function reference(c: Case, x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const [t0, l0, b0, r0] = c.pads;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [t0, b0],
    [l0, r0],
    [0, 0],
  ];
  if (c.kind === 'depthwise') return tf.depthwiseConv2d(x, w, c.strides, pad);
  if (c.kind === 'conv') return tf.conv2d(x, w, c.strides, pad);
  const g = c.group ?? 1;
  const xs = tf.split(x, g, 3);
  const ws = tf.split(w, g, 3);
  return tf.concat(
    xs.map((xi, k) => tf.conv2d(xi as tf.Tensor4D, ws[k] as tf.Tensor4D, c.strides, pad)),
    3,
  ) as tf.Tensor4D;
}

function custom(c: Case, x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const geometry = { strides: c.strides, pads: c.pads };
  if (c.kind === 'depthwise') return depthwiseTrainable(x, w, geometry);
  if (c.kind === 'conv') return conv2dTrainable(x, w, geometry);
  return groupedConvTrainable(x, w, c.group ?? 1, geometry);
}

async function gradsOf(c: Case, backend: 'cpu' | 'wasm', useCustom: boolean, seed: number) {
  await useTrainBackend(backend);
  const rng = createRng(seed);
  const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  const xv = Float32Array.from({ length: size(c.x) }, () => rng.normal());
  const wv = Float32Array.from({ length: size(c.w) }, () => rng.normal());
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, c.x);
    const w = tf.tensor4d(wv, c.w);
    // A non-uniform upstream gradient (sum of squares), so a mis-placed tap cannot cancel out.
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      tf.sum(tf.square((useCustom ? custom : reference)(c, a as tf.Tensor4D, b as tf.Tensor4D)));
    const y = (useCustom ? custom : reference)(c, x, w).dataSync() as Float32Array;
    const [gx, gw] = tf.grads(f)([x, w]);
    return { y, gx: gx?.dataSync() as Float32Array, gw: gw?.dataSync() as Float32Array };
  });
}

for (const c of CASES) {
  t.test(`${c.kind}: ${c.name}: wasm custom gradients equal the cpu backend's`, async (t) => {
    const ref = await gradsOf(c, 'cpu', false, 7);
    const got = await gradsOf(c, 'wasm', true, 7);
    t.ok(maxAbsDiff(ref.y, got.y) < 1e-4, 'forward values agree');
    const tol = (a: Float32Array): number => 1e-4 * Math.max(1, maxAbs(a));
    t.ok(maxAbsDiff(ref.gx, got.gx) < tol(ref.gx), `input gradient (max |Δ| ${maxAbsDiff(ref.gx, got.gx)})`);
    t.ok(maxAbsDiff(ref.gw, got.gw) < tol(ref.gw), `filter gradient (max |Δ| ${maxAbsDiff(ref.gw, got.gw)})`);
    t.ok(maxAbs(ref.gw) > 1 && maxAbs(ref.gx) > 1, 'gradients are not trivially zero');
  });
}

t.test('a graph-input convolution skips its input gradient', async (t) => {
  await useTrainBackend('wasm');
  const x = tf.ones([1, 5, 5, 1]) as tf.Tensor4D;
  const w = tf.ones([3, 3, 1, 2]) as tf.Tensor4D;
  const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(
      conv2dTrainable(a as tf.Tensor4D, b as tf.Tensor4D, { strides: [1, 1], pads: [1, 1, 1, 1], inputGrad: false }),
    ),
  )([x, w]);
  t.equal(maxAbs(gx?.dataSync() as Float32Array), 0, 'no input gradient computed');
  t.ok(maxAbs(gw?.dataSync() as Float32Array) > 0, 'the filter gradient is');
});

for (const transposeB of [false, true]) {
  t.test(
    `matMul${transposeB ? ' with transposed B' : ''}: untransposed-product gradients equal the cpu backend's`,
    async (t) => {
      const rng = createRng(11);
      const av = Float32Array.from({ length: 5 * 7 }, () => rng.normal());
      const bv = Float32Array.from({ length: 7 * 3 }, () => rng.normal());
      const bDims: [number, number] = transposeB ? [3, 7] : [7, 3];
      const run = async (backend: 'cpu' | 'wasm', custom: boolean) => {
        await useTrainBackend(backend);
        return tf.tidy(() => {
          const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
            tf.sum(
              tf.square(
                custom
                  ? matMulTrainable(a as tf.Tensor2D, b as tf.Tensor2D, transposeB)
                  : tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, transposeB),
              ),
            );
          return tf
            .grads(f)([tf.tensor2d(av, [5, 7]), tf.tensor2d(bv, bDims)])
            .map((g) => g.dataSync() as Float32Array);
        });
      };
      const [ra, rb] = await run('cpu', false);
      const [ca, cb] = await run('wasm', true);
      t.ok(maxAbsDiff(ra as Float32Array, ca as Float32Array) < 1e-4, 'gradient of A');
      t.ok(maxAbsDiff(rb as Float32Array, cb as Float32Array) < 1e-4, 'gradient of B');
      t.ok(maxAbs(rb as Float32Array) > 1, 'not trivially zero');
    },
  );
}
