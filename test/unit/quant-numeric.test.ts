import t from 'tap';
import {
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fromFloat16Array,
  toFloat16Array,
  countFloat16Overflows,
} from '@edgefleet/compress/quant/fp16';
import {
  activationQParams,
  dequantizePerChannel,
  dequantizeValue,
  outputChannelAxis,
  quantizePerChannelInt8,
  quantizeValue,
} from '@edgefleet/compress/quant/int8';
import { roundHalfEven } from '@edgefleet/compress/quant/rounding';

/** Seeded PRNG (mulberry32) so every table is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('roundHalfEven matches nearbyint ties-to-even', async (t) => {
  const table: Array<[number, number]> = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, -0],
    [-1.5, -2],
    [-2.5, -2],
    [2.4, 2],
    [-2.6, -3],
    [3, 3],
  ];
  for (const [x, want] of table) t.equal(roundHalfEven(x) + 0, want + 0, `round(${x})`);
});

t.test('float16 edge cases', async (t) => {
  const table: Array<[string, number, number]> = [
    ['zero', 0, 0x0000],
    ['negative zero', -0, 0x8000],
    ['one', 1, 0x3c00],
    ['minus two', -2, 0xc000],
    ['max finite', 65504, 0x7bff],
    ['rounds down to max', 65519.99, 0x7bff],
    ['tie above max → inf', 65520, 0x7c00],
    ['overflow', 1e6, 0x7c00],
    ['-inf', -Infinity, 0xfc00],
    ['smallest normal', 2 ** -14, 0x0400],
    ['largest subnormal', 2 ** -14 - 2 ** -24, 0x03ff],
    ['smallest subnormal', 2 ** -24, 0x0001],
    ['half of smallest subnormal ties to 0', 2 ** -25, 0x0000],
    ['just above half rounds up', 2 ** -25 * 1.0001, 0x0001],
    ['1.5 × smallest subnormal ties to even (2)', 1.5 * 2 ** -24, 0x0002],
    ['underflow', 1e-10, 0x0000],
    ['tie at 1 + 2^-11 → even (1)', 1 + 2 ** -11, 0x3c00],
    ['tie at 1 + 3·2^-11 → even (1+2^-9)', 1 + 3 * 2 ** -11, 0x3c02],
    ['0.1', 0.1, 0x2e66],
  ];
  for (const [name, x, bits] of table) t.equal(float32ToFloat16Bits(x), bits, name);
  const nan = float32ToFloat16Bits(NaN);
  t.equal(nan & 0x7c00, 0x7c00, 'NaN keeps the all-ones exponent');
  t.not(nan & 0x3ff, 0, 'NaN keeps a non-zero mantissa');
  t.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
  t.equal(float16BitsToFloat32(0xfc00), -Infinity);
  t.equal(float16BitsToFloat32(0x0001), 2 ** -24);
  t.equal(float16BitsToFloat32(0x7bff), 65504);
  t.equal(
    countFloat16Overflows(new Float32Array([1, 65504, 65520, -7e4, Infinity])),
    2,
    'Infinity itself is not an overflow',
  );
});

t.test('float16 round trip: every half bit pattern survives, random floats stay within half an ulp', async (t) => {
  let bad = 0;
  for (let bits = 0; bits < 0x10000; bits++) {
    const v = float16BitsToFloat32(bits);
    if (Number.isNaN(v)) continue;
    if (float32ToFloat16Bits(v) !== bits) bad++;
  }
  t.equal(bad, 0, 'all 63,488 non-NaN patterns round-trip');
  const r = rng(7);
  const xs = new Float32Array(10000).map(() => (r() - 0.5) * 2 ** Math.floor(r() * 30 - 15));
  const back = fromFloat16Array(toFloat16Array(xs));
  let worst = 0;
  xs.forEach((x, i) => {
    const ax = Math.abs(x);
    // ulp of the half format at x (subnormal spacing 2^-24 below 2^-14).
    const ulp = ax < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(ax)) - 10);
    worst = Math.max(worst, Math.abs((back[i] ?? 0) - x) / ulp);
  });
  t.ok(worst <= 0.5 + 1e-9, `worst error ${worst} ulp ≤ 0.5`);
});

t.test('output-channel axis per op', async (t) => {
  t.equal(outputChannelAxis({ op: 'Conv' }, 4), 0, 'Conv OIHW');
  t.equal(outputChannelAxis({ op: 'Gemm', transB: true }, 2), 0, 'Gemm transB: B is [N,K]');
  t.equal(outputChannelAxis({ op: 'Gemm', transB: false }, 2), 1, 'Gemm: B is [K,N]');
  t.equal(outputChannelAxis({ op: 'MatMul' }, 2), 1, 'MatMul: B is [K,N]');
});

t.test('per-channel int8: error ≤ scale/2 per channel, scales per the right axis', async (t) => {
  const cases: Array<[string, number[], number]> = [
    ['Conv OIHW', [8, 3, 3, 3], 0],
    ['Gemm transB [N,K]', [10, 64], 0],
    ['MatMul [K,N]', [64, 10], 1],
  ];
  const r = rng(11);
  for (const [name, shape, axis] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    // Channels with very different magnitudes: per-tensor scales would crush the small ones.
    const w = new Float32Array(n);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) w[i] = (r() - 0.5) * 10 ** (((Math.floor(i / inner) % (shape[axis] ?? 1)) % 3) - 1);
    const { q, scales } = quantizePerChannelInt8(w, shape, axis);
    t.equal(scales.length, shape[axis], `${name}: one scale per output channel`);
    const back = dequantizePerChannel(q, scales, shape, axis);
    let ok = true;
    for (let i = 0; i < n; i++) {
      const c = Math.floor(i / inner) % (shape[axis] ?? 1);
      if (Math.abs((back[i] ?? 0) - (w[i] ?? 0)) > (scales[c] ?? 0) / 2 + 1e-7) ok = false;
      if ((q[i] ?? 0) < -127) ok = false;
    }
    t.ok(ok, `${name}: |w - w'| ≤ s_c/2 and q ≥ -127`);
  }
  const zero = quantizePerChannelInt8(new Float32Array(4), [2, 2], 0);
  t.same([...zero.scales], [1, 1], 'all-zero channel gets scale 1');
  t.throws(() => quantizePerChannelInt8(new Float32Array(3), [2, 2], 0), RangeError);
});

t.test('activation qparams', async (t) => {
  const table: Array<[string, number, number, Parameters<typeof activationQParams>[2], number, number]> = [
    ['relu output uint8', 0, 6, { type: 'uint8' }, 6 / 255, 0],
    ['signed uint8', -1, 3, { type: 'uint8' }, 4 / 255, 64],
    ['positive-only range widened to 0', 2, 4, { type: 'uint8' }, 4 / 255, 0],
    ['int8 asymmetric', -1, 3, { type: 'int8' }, 4 / 255, -64],
    ['int8 symmetric', -1, 3, { type: 'int8', symmetric: true }, 6 / 255, 0],
    ['degenerate', 0, 0, { type: 'uint8' }, 1, 0],
  ];
  for (const [name, lo, hi, opts, scale, zp] of table) {
    const p = activationQParams(lo, hi, opts);
    t.ok(Math.abs(p.scale - scale) < 1e-9, `${name}: scale ${p.scale}`);
    t.equal(p.zeroPoint, zp, `${name}: zero point`);
    t.equal(dequantizeValue(quantizeValue(0, p), p), 0, `${name}: zero is exact`);
  }
  const p = activationQParams(-1, 3);
  t.equal(quantizeValue(100, p), 255, 'saturates high');
  t.equal(quantizeValue(-100, p), 0, 'saturates low');
  t.throws(() => activationQParams(NaN, 1), RangeError);
  t.throws(() => activationQParams(2, 1), RangeError);
});
