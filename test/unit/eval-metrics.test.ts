import t from 'tap';
import { accuracyOf, argmaxAt, cosine, fidelityOf, percentile, top1Of } from '@edgefleet/compress/eval/metrics';
import { sizeOf } from '@edgefleet/compress/eval/size';

t.test('argmax and top-1 (first index wins ties)', async (t) => {
  t.equal(argmaxAt([0, 3, 1, 3], 0, 4), 1);
  t.equal(argmaxAt([9, 0, 1, 2, 5], 1, 4), 3);
  t.same([...top1Of([1, 0, 0, 2, 5, 5], 2)], [0, 1]);
});

t.test('accuracy counts samples', async (t) => {
  const cases = [
    { values: [1, 0, 0, 1, 1, 0], labels: [0, 1, 1], want: { top1: 2 / 3, correct: 2, count: 3 } },
    { values: [0.2, 0.8], labels: [1], want: { top1: 1, correct: 1, count: 1 } },
    { values: [], labels: [], want: { top1: 0, correct: 0, count: 0 } },
  ];
  for (const c of cases) t.same(accuracyOf(c.values, c.labels), c.want);
});

t.test('cosine similarity', async (t) => {
  t.equal(cosine([1, 0], [1, 0], 0, 2), 1);
  t.equal(cosine([1, 0], [0, 1], 0, 2), 0);
  t.ok(Math.abs(cosine([1, 2], [-1, -2], 0, 2) + 1) < 1e-12);
  t.equal(cosine([0, 0], [0, 0], 0, 2), 1, 'two zero vectors agree');
  t.equal(cosine([0, 0], [1, 0], 0, 2), 0);
});

t.test('fidelity to a reference', async (t) => {
  const ref = [1, 2, 3, 3, 2, 1];
  const same = fidelityOf(ref, ref, 2);
  t.same(same, { top1Agreement: 1, meanCosine: 1, minCosine: 1, maxAbsError: 0, count: 2 });
  const other = fidelityOf([1, 2, 3, 1, 2, 3], ref, 2);
  t.equal(other.top1Agreement, 0.5);
  t.equal(other.maxAbsError, 2);
  t.ok(Math.abs(other.minCosine - 10 / 14) < 1e-12, 'cosine of (1,2,3) and (3,2,1) is 10/14');
  t.ok(Math.abs(other.meanCosine - (1 + 10 / 14) / 2) < 1e-12);
  t.throws(() => fidelityOf([1], [1, 2], 1), RangeError);
});

t.test('nearest-rank percentiles', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  t.equal(percentile(xs, 50), 50);
  t.equal(percentile(xs, 95), 95);
  t.equal(percentile(xs, 100), 100);
  t.equal(percentile([7], 95), 7);
  t.ok(Number.isNaN(percentile([], 50)));
});

t.test('size and gzip size', async (t) => {
  const bytes = new Uint8Array(10000).fill(7);
  const s = sizeOf(bytes);
  t.equal(s.bytes, 10000);
  t.ok(s.gzipBytes < 200, `repetitive bytes compress (${s.gzipBytes})`);
});
