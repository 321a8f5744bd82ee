import t from 'tap';
import { loadMnist, loadMnistAll, mnistSplitIndices, MNIST_SPLIT_SIZES } from '@edgefleet/compress/data/mnist';

t.test('the package has 10,000 labelled digits with pixels in [0,1]', async (t) => {
  const all = loadMnistAll();
  t.equal(all.labels.length, 10000);
  t.equal(all.pixels.length, 10000 * 784);
  let min = Infinity;
  let max = -Infinity;
  for (const p of all.pixels) {
    if (p < min) min = p;
    if (p > max) max = p;
  }
  t.equal(min, 0);
  t.equal(max, 1);
  t.same(new Set(all.labels), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
});

t.test('train, calib and test never overlap and cover the package', async (t) => {
  const train = mnistSplitIndices('train');
  const calib = mnistSplitIndices('calib');
  const test = mnistSplitIndices('test');
  t.equal(train.length, MNIST_SPLIT_SIZES.train);
  t.equal(calib.length, MNIST_SPLIT_SIZES.calib);
  t.equal(test.length, MNIST_SPLIT_SIZES.test);
  const seen = new Set<number>();
  for (const split of [train, calib, test]) for (const i of split) seen.add(i);
  t.equal(seen.size, 10000, 'every index appears exactly once across the three splits');
});

t.test('splits are deterministic per seed and change with the seed', async (t) => {
  t.same(mnistSplitIndices('test'), mnistSplitIndices('test'));
  t.not(Array.from(mnistSplitIndices('test', 1)).join(','), Array.from(mnistSplitIndices('test', 2)).join(','));
  const a = loadMnist({ split: 'calib', limit: 5 });
  const b = loadMnist({ split: 'calib', limit: 5 });
  t.same(a.labels, b.labels);
  t.same(a.inputs.input?.data, b.inputs.input?.data);
});

t.test('every class appears in each split', async (t) => {
  for (const split of ['train', 'calib', 'test'] as const) {
    const ds = loadMnist({ split });
    t.equal(new Set(ds.labels).size, 10, `${split} has all ten digits`);
  }
});

t.test('layouts and limits', async (t) => {
  const flat = loadMnist({ split: 'test', limit: 3 });
  t.same(flat.inputs.input?.dims, [3, 784]);
  t.equal(flat.source, 'mnist:test');
  const img = loadMnist({ split: 'test', limit: 3, layout: 'image', inputName: 'x' });
  t.same(img.inputs.x?.dims, [3, 1, 28, 28]);
  t.same(img.inputs.x?.data, flat.inputs.input?.data, 'same pixels, only the dims differ');
  t.equal(loadMnist({ limit: 0 }).count, 0);
});
