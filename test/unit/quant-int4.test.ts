import t from 'tap';
import {
  dequantizeMatMulNBits4,
  getNibble,
  isValidBlockSize,
  quantizeMatMulNBits4,
} from '@edgefleet/compress/quant/int4';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('block sizes', async (t) => {
  for (const [bs, ok] of [
    [16, true],
    [32, true],
    [64, true],
    [128, true],
    [8, false],
    [48, false],
    [0, false],
  ] as const)
    t.equal(isValidBlockSize(bs), ok, String(bs));
  t.throws(() => quantizeMatMulNBits4(new Float32Array(4), 2, 2, { blockSize: 24, symmetric: true }), RangeError);
  t.throws(() => quantizeMatMulNBits4(new Float32Array(5), 2, 2, { blockSize: 32, symmetric: true }), RangeError);
});

t.test('layout: [N, k_blocks, blob], low nibble first, per-row packed zero points', async (t) => {
  // K=40 with block 32: two blocks per column, the second padded.
  const K = 40;
  const N = 2;
  const w = new Float32Array(K * N);
  w[0 * N + 0] = -8; // k=0,n=0: the largest magnitude → level 0
  w[1 * N + 0] = 7; // k=1,n=0
  const q = quantizeMatMulNBits4(w, K, N, { blockSize: 32, symmetric: true });
  t.equal(q.kBlocks, 2);
  t.equal(q.b.length, N * 2 * 16, 'N × k_blocks × blob_size bytes');
  t.equal(q.scales[0], 1, 'scale = -(-8)/8');
  t.equal(q.b[0], 0x0 | (15 << 4), 'k=0 in the low nibble (-8 → 0), k=1 in the high nibble (7 → 15)');
  t.equal(getNibble(q.b, 16, 8), 8, 'padding past K holds the implicit zero point');
  t.equal(q.zeroPoints, undefined, 'symmetric: no zero_points input');
  const a = quantizeMatMulNBits4(w, K, N, { blockSize: 16, symmetric: false });
  t.equal(a.kBlocks, 3);
  t.equal(a.zeroPoints?.length, N * 2, 'zero points: N × ceil(k_blocks / 2) bytes');
});

t.test('round-trip error ≤ scale/2 per block', async (t) => {
  const r = rng(21);
  for (const bs of [16, 32, 64, 128]) {
    for (const symmetric of [true, false]) {
      const K = 200;
      const N = 7;
      const w = Float32Array.from({ length: K * N }, () => (r() - 0.3) * 2);
      const q = quantizeMatMulNBits4(w, K, N, { blockSize: bs, symmetric });
      const back = dequantizeMatMulNBits4(q);
      let worst = 0;
      for (let k = 0; k < K; k++) {
        for (let n = 0; n < N; n++) {
          const s = Math.abs(q.scales[n * q.kBlocks + Math.floor(k / bs)] ?? 0);
          worst = Math.max(worst, Math.abs((back[k * N + n] ?? 0) - (w[k * N + n] ?? 0)) / s);
        }
      }
      t.ok(worst <= 0.5 + 1e-5, `bs=${bs} symmetric=${symmetric}: worst error ${worst.toFixed(4)} scales`);
    }
  }
});

t.test(
  'onnxruntime agrees: a MatMulNBits model equals A · dequantize(B) (nibble order, zero-point rows, bias input)',
  async (t) => {
    const { createModel, tensorValueInfo, attr, writeModel } = await import('@edgefleet/compress/ir/index');
    const { createOrtSession } = await import('@edgefleet/compress/runtime/ort');
    const r = rng(99);
    // K=80 with block 32 → 3 blocks (odd, so the zero-point padding nibble matters), N=5 rows.
    for (const symmetric of [true, false]) {
      const K = 80;
      const N = 5;
      const M = 3;
      const w = Float32Array.from({ length: K * N }, () => r() * 2 - 0.7);
      const bias = Float32Array.from({ length: N }, (_, i) => i * 10);
      const q = quantizeMatMulNBits4(w, K, N, { blockSize: 32, symmetric });
      const inits = [
        { name: 'B', dtype: 'uint8' as const, dims: [N, q.kBlocks, 16], data: q.b, docString: '' },
        { name: 'S', dtype: 'float32' as const, dims: [N, q.kBlocks], data: q.scales, docString: '' },
        { name: 'bias', dtype: 'float32' as const, dims: [N], data: bias, docString: '' },
      ];
      if (q.zeroPoints)
        inits.push({ name: 'Z', dtype: 'uint8' as const, dims: [N, 2], data: q.zeroPoints, docString: '' } as never);
      const model = createModel({
        opsets: { '': 17, 'com.microsoft': 1 },
        graph: {
          name: 'nbits',
          inputs: [tensorValueInfo('A', 'float32', [M, K])],
          outputs: [tensorValueInfo('Y', 'float32', [M, N])],
          initializers: inits,
          nodes: [
            {
              opType: 'MatMulNBits',
              domain: 'com.microsoft',
              inputs: ['A', 'B', 'S', q.zeroPoints ? 'Z' : '', '', 'bias'],
              outputs: ['Y'],
              attributes: [attr.int('K', K), attr.int('N', N), attr.int('bits', 4), attr.int('block_size', 32)],
            },
          ],
        },
      });
      const a = Float32Array.from({ length: M * K }, () => r() - 0.5);
      const s = await createOrtSession(writeModel(model));
      const out = await s.run({ A: { dtype: 'float32', dims: [M, K], data: a } });
      await s.release();
      const y = out.Y?.data as Float32Array;
      const wd = dequantizeMatMulNBits4(q);
      let worst = 0;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = bias[n] ?? 0;
          for (let k = 0; k < K; k++) acc += (a[m * K + k] ?? 0) * (wd[k * N + n] ?? 0);
          worst = Math.max(worst, Math.abs(acc - (y[m * N + n] ?? 0)));
        }
      }
      t.ok(worst < 1e-4, `symmetric=${symmetric}: onnxruntime vs reference max |Δ| = ${worst.toExponential(2)}`);
    }
  },
);
