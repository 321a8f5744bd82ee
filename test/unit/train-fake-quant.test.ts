import t from 'tap';
import { createRng } from '@edgefleet/compress/data/prng';
import {
  activationQParams,
  dequantizePerChannel,
  dequantizeValue,
  quantizePerChannelInt8,
  quantizeValue,
} from '@edgefleet/compress/quant/int8';
import { tf, useTrainBackend } from '@edgefleet/compress/train/backend';
import { fakeQuantActivation, fakeQuantBias, fakeQuantWeight } from '@edgefleet/compress/train/ops/fake-quant';

/** QAT's fake quantization reproduces int8-static's numbers exactly, and its gradients are straight-through. */

t.before(async () => {
  await useTrainBackend('wasm');
});

t.test('tf.round rounds half to even, as ONNX QuantizeLinear and roundHalfEven do', async (t) => {
  t.same(
    Array.from(tf.round(tf.tensor1d([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49])).dataSync()),
    [0, 2, 2, -0, -2, -2, 0],
  );
});

t.test(
  'activation fake quantization equals quantizeValue → dequantizeValue, ties and saturation included',
  async (t) => {
    // A power-of-two scale (2^-6) keeps the ties exact in float32, so both sides see the same tie.
    const p = activationQParams(-1, 191 / 64, { type: 'uint8' });
    t.equal(p.scale, 2 ** -6);
    // Exact ties (k + 0.5 steps from the zero point), values inside, and values past both ends.
    const xs = [
      ...Array.from({ length: 40 }, (_, k) => (k - 20 + 0.5) * p.scale),
      ...Array.from({ length: 200 }, (_, k) => -3 + k * 0.041),
    ];
    const got = tf.tidy(() => fakeQuantActivation(tf.tensor1d(xs), p).dataSync());
    let worst = 0;
    xs.forEach((x, i) => {
      const want = dequantizeValue(quantizeValue(x, p), p);
      worst = Math.max(worst, Math.abs((got[i] as number) - want));
    });
    t.ok(worst < 1e-6, `max |Δ| ${worst}`);
    t.same([Math.min(...got), Math.max(...got)], [-1, 191 / 64], 'saturates at the range');
  },
);

t.test('activation gradient passes inside the range and stops outside it', async (t) => {
  const p = activationQParams(0, 2, { type: 'uint8' });
  const g = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => tf.sum(fakeQuantActivation(x, p)))(tf.tensor1d([-0.5, 0.3, 1.99, 2.5]))
      .dataSync(),
  );
  t.same(Array.from(g), [0, 1, 1, 0]);
});

for (const c of [
  { name: 'Conv OIHW, axis 0', dims: [4, 3, 3, 3], axis: 0 },
  { name: 'Gemm [K,N], axis 1', dims: [12, 5], axis: 1 },
]) {
  t.test(`weight fake quantization equals quantizePerChannelInt8 (${c.name})`, async (t) => {
    const rng = createRng(4);
    const n = c.dims.reduce((a, b) => a * b, 1);
    const w = Float32Array.from({ length: n }, () => rng.normal() * 0.3);
    w.fill(0, 0, c.axis === 0 ? n / 4 : 0); // an all-zero output channel (scale 1) on the Conv case
    const q = quantizePerChannelInt8(w, c.dims, c.axis);
    const want = dequantizePerChannel(q.q, q.scales, c.dims, c.axis);
    const got = tf.tidy(() => fakeQuantWeight(tf.tensor(w, c.dims), c.axis).dataSync());
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
    t.ok(worst < 1e-7, `max |Δ| ${worst}`);
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.sum(tf.mul(fakeQuantWeight(x, c.axis), 3)))(tf.tensor(w, c.dims))
        .dataSync(),
    );
    t.ok(
      g.every((v) => v === 3),
      'straight-through weight gradient',
    );
  });
}

t.test('bias fake quantization lands on the int32 grid of input scale × weight scale', async (t) => {
  const b = tf.tensor1d([0.1234, -0.5, 0.00001]);
  const ws = tf.tensor1d([0.01, 0.02, 0.03]);
  const got = tf.tidy(() => fakeQuantBias(b, 0.5, ws).dataSync());
  const want = [0.1234, -0.5, 0.00001].map(
    (v, i) => Math.round(v / (0.5 * [0.01, 0.02, 0.03][i]!)) * 0.5 * [0.01, 0.02, 0.03][i]!,
  );
  t.ok(
    Array.from(got).every((v, i) => Math.abs(v - (want[i] as number)) < 1e-7),
    `${Array.from(got)} vs ${want}`,
  );
  const g = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(fakeQuantBias(x, 0.5, ws), tf.tensor1d([1, 2, 3]))))(b)
      .dataSync(),
  );
  t.same(Array.from(g), [1, 2, 3], 'straight-through bias gradient');
});
