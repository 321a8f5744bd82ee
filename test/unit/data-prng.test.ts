import t from 'tap';
import { createRng, deriveSeed } from '@edgefleet/compress/data/prng';

t.test('the same seed gives the same stream, another seed another', async (t) => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const sa = Array.from({ length: 100 }, () => a.nextUint32());
  const sb = Array.from({ length: 100 }, () => b.nextUint32());
  const sc = Array.from({ length: 100 }, () => c.nextUint32());
  t.same(sa, sb);
  t.not(sa.join(','), sc.join(','));
});

t.test('values stay in their ranges', async (t) => {
  const r = createRng(1);
  for (let i = 0; i < 10000; i++) {
    const x = r.next();
    const k = r.int(7);
    const u = r.uniform(-2, 3);
    if (!(x >= 0 && x < 1) || !(Number.isInteger(k) && k >= 0 && k < 7) || !(u >= -2 && u < 3)) {
      t.fail(`out of range: next ${x}, int ${k}, uniform ${u}`);
      return;
    }
  }
  t.pass('10,000 draws in range');
  t.throws(() => r.int(0), RangeError);
  t.throws(() => createRng(Number.NaN), TypeError);
});

t.test('normal samples have mean ~0 and variance ~1', async (t) => {
  const r = createRng(5);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  t.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  t.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

t.test('shuffle is a seeded permutation', async (t) => {
  const xs = createRng(9).shuffle(Array.from({ length: 50 }, (_, i) => i));
  t.same(
    [...xs].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  t.same(createRng(9).shuffle(Array.from({ length: 50 }, (_, i) => i)), xs);
  t.not(xs.join(','), Array.from({ length: 50 }, (_, i) => i).join(','));
});

t.test('derived seeds differ per label and per seed', async (t) => {
  t.equal(deriveSeed(1, 'split'), deriveSeed(1, 'split'));
  t.not(deriveSeed(1, 'split'), deriveSeed(1, 'shuffle'));
  t.not(deriveSeed(1, 'split'), deriveSeed(2, 'split'));
});
