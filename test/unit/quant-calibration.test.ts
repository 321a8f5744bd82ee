import t from 'tap';
import { createCalibrator, entropyThreshold, type CalibrationMethod } from '@edgefleet/compress/quant/calibrators';
import { addToHistogram, createAbsHistogram, histogramPercentile } from '@edgefleet/compress/quant/histogram';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller) with a few huge outliers, in batches. */
function batches(seed: number, count: number, size: number, outlier: number): Float32Array[] {
  const r = rng(seed);
  const out: Float32Array[] = [];
  for (let b = 0; b < count; b++) {
    const x = new Float32Array(size);
    for (let i = 0; i < size; i++) x[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
    x[0] = b === count - 1 ? outlier : (x[0] ?? 0);
    out.push(x);
  }
  return out;
}

t.test('histogram grows by merging and keeps every count', async (t) => {
  const h = createAbsHistogram(64);
  addToHistogram(h, [0.1, -0.2, 0.3]);
  addToHistogram(h, [5, -40, NaN]);
  t.equal(h.total, 5, 'NaN is ignored');
  t.equal(
    [...h.counts].reduce((a, b) => a + b, 0),
    5,
    'counts preserved across growth',
  );
  t.ok(h.width * 64 > 40, 'range covers the largest |x|');
  t.equal(h.min, -40);
  t.equal(h.max, 5);
  t.ok(histogramPercentile(h, 100) >= 40);
  t.throws(() => addToHistogram(h, [Infinity]), RangeError);
  t.throws(() => histogramPercentile(h, 0), RangeError);
});

t.test('calibrators on a normal distribution with one outlier of 30', async (t) => {
  // The outlier is kept within 2048/128 × the bulk: a KL search (like TensorRT's) cannot cut below
  // `levels` bins, so a far larger outlier would bound how much it can clip.
  const data = batches(3, 20, 5000, 30);
  const table: Array<[CalibrationMethod, (max: number) => boolean, string]> = [
    ['minmax', (m) => m === 30, 'keeps the outlier'],
    ['percentile', (m) => m > 3 && m < 5, 'clips near the 99.99th percentile of |N(0,1)| (≈3.9)'],
    ['entropy', (m) => m > 2.5 && m < 15, 'clips the outlier, keeps the bulk'],
  ];
  for (const [method, check, why] of table) {
    const c = createCalibrator(method);
    for (const b of data) c.observe(b);
    const { min, max } = c.range();
    t.ok(check(max), `${method}: max ${max.toFixed(3)} ${why}`);
    t.ok(min < -2 && min >= -30, `${method}: min ${min.toFixed(3)}`);
  }
});

t.test('entropy on a uniform non-negative tensor keeps (almost) the full range', async (t) => {
  const r = rng(5);
  const c = createCalibrator('entropy');
  for (let b = 0; b < 4; b++) c.observe(Float32Array.from({ length: 10000 }, () => r() * 6));
  const { min, max } = c.range();
  t.ok(min >= 0 && min < 0.01, 'non-negative stays non-negative');
  t.ok(max > 5.5 && max <= 6.01, `max ${max}`);
});

t.test('calibrators refuse to guess without data', async (t) => {
  for (const m of ['minmax', 'percentile', 'entropy'] as const)
    t.throws(() => createCalibrator(m).range(), RangeError, m);
  t.equal(entropyThreshold(createAbsHistogram(), 128), 0);
  t.throws(() => createAbsHistogram(7), RangeError);
});
