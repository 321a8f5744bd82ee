import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isEdgefleetError, asError } from '@edgefleet/shared';
import { loadDataSource, assertDatasetFits } from '@edgefleet/compress/data/source';
import { readSampleDir, writeSampleDir } from '@edgefleet/compress/data/sample-dir';
import { parseShape, randomForInputs } from '@edgefleet/compress/data/random';
import { batchFeeds, runBatchSize, type ModelInputSpec } from '@edgefleet/compress/data/tensor';

const MLP: ModelInputSpec[] = [{ name: 'input', dtype: 'float32', dims: ['N', 784] }];
const CNN: ModelInputSpec[] = [{ name: 'pixels', dtype: 'float32', dims: ['N', 1, 28, 28] }];
const TWO: ModelInputSpec[] = [
  { name: 'ids', dtype: 'int64', dims: ['batch', 16] },
  { name: 'mask', dtype: 'bool', dims: ['batch', 16] },
  { name: 'feat', dtype: 'float32', dims: ['batch', 4] },
];

const code = (err: unknown): string => (isEdgefleetError(err) ? err.code : String(err));

t.test('mnist specs follow the model layout and split', async (t) => {
  const a = loadDataSource('mnist', MLP);
  t.same(a.inputs.input?.dims, [2000, 784]);
  t.equal(a.source, 'mnist:test');
  const b = loadDataSource('mnist:calib:16', CNN);
  t.same(b.inputs.pixels?.dims, [16, 1, 28, 28]);
  t.equal(b.source, 'mnist:calib');
  const c = loadDataSource('mnist:256', CNN, { defaultSplit: 'calib' });
  t.equal(c.count, 256);
  t.equal(c.source, 'mnist:calib');
  t.throws(() => loadDataSource('mnist:validation', MLP), { code: 'EF_ERR_DATA_SOURCE' });
});

t.test('a shape mismatch names both shapes', async (t) => {
  const wrong: ModelInputSpec[] = [{ name: 'x', dtype: 'float32', dims: ['N', 3, 48, 192] }];
  try {
    loadDataSource('mnist', wrong);
    t.fail('expected EF_ERR_DATA_SHAPE');
  } catch (err: unknown) {
    t.equal(code(err), 'EF_ERR_DATA_SHAPE');
    t.match(asError(err).message, /\[2000,1,28,28\]/);
    t.match(asError(err).message, /\[N,3,48,192\]/);
  }
  t.throws(() => loadDataSource('random:4x784', CNN), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /\[4,784\].*\[N,1,28,28\]/,
  });
  t.throws(() => loadDataSource('random:3x10', [{ name: 'x', dtype: 'float32', dims: [2, 10] }]), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /fixed batch 2/,
  });
});

t.test('random:N fills every input with seeded data of its dtype', async (t) => {
  const ds = loadDataSource('random:3', TWO);
  t.equal(ds.count, 3);
  t.ok(ds.inputs.ids?.data instanceof BigInt64Array);
  t.same(ds.inputs.ids?.dims, [3, 16]);
  t.ok(
    [...(ds.inputs.mask?.data ?? [])].every((v) => v === 0 || v === 1),
    'bool is 0/1',
  );
  const f = ds.inputs.feat?.data as Float32Array;
  t.ok(
    [...f].every((v) => v >= 0 && v < 1),
    'floats in [0,1)',
  );
  t.same(loadDataSource('random:3', TWO).inputs.feat?.data, f, 'deterministic');
  t.not(
    [...(loadDataSource('random:3', TWO, { seed: 99 }).inputs.feat!.data as Float32Array)].join(),
    [...f].join(),
    'seed matters',
  );
});

t.test('symbolic non-batch dims need --shape', async (t) => {
  const det: ModelInputSpec[] = [{ name: 'x', dtype: 'float32', dims: ['N', 3, 'H', 'W'] }];
  t.throws(() => randomForInputs(det, 2), { code: 'EF_ERR_DATA_SHAPE', message: /--shape x=/ });
  const ds = loadDataSource('random:2', det, { shapes: { x: [2, 3, 32, 32] } });
  t.same(ds.inputs.x?.dims, [2, 3, 32, 32]);
});

t.test('random:SHAPE and bad specs', async (t) => {
  t.same(parseShape('8x1x28x28'), [8, 1, 28, 28]);
  t.same(parseShape('2,784'), [2, 784]);
  t.throws(() => parseShape('8xx2'), { code: 'EF_ERR_DATA_SOURCE' });
  t.throws(() => parseShape('0x3'), { code: 'EF_ERR_DATA_SOURCE' });
  t.same(loadDataSource('random:5x1x28x28', CNN).inputs.pixels?.dims, [5, 1, 28, 28]);
  t.throws(() => loadDataSource('random:2x16', TWO), { code: 'EF_ERR_DATA_SOURCE', message: /random:N/ });
  t.throws(() => loadDataSource('/no/such/dir', MLP), { code: 'EF_ERR_DATA_SOURCE' });
  t.throws(() => loadDataSource('random:99999x99999', MLP), { code: 'EF_ERR_DATA_SOURCE', message: /limit/ });
});

t.test('sample directories round-trip and feed a one-input model by position', async (t) => {
  const dir = t.testdir();
  const src = loadDataSource('mnist:calib:7', MLP);
  writeSampleDir(join(dir, 's'), src);
  const back = readSampleDir(join(dir, 's'));
  t.same(back.inputs.input?.data, src.inputs.input?.data);
  t.same(back.labels, src.labels);
  const asCnnName = loadDataSource(join(dir, 's'), [{ name: 'x', dtype: 'float32', dims: ['N', 784] }]);
  t.same(Object.keys(asCnnName.inputs), ['x']);
  const multi = loadDataSource('random:2', TWO);
  writeSampleDir(join(dir, 'm'), multi);
  const mb = readSampleDir(join(dir, 'm'));
  t.same(mb.inputs.ids?.data, multi.inputs.ids?.data);
  t.same(mb.inputs.mask?.data, multi.inputs.mask?.data);
  t.equal(mb.labels, undefined);
  t.doesNotThrow(() => assertDatasetFits(mb, TWO));
});

t.test('broken sample directories give EF_ERR_DATA_SOURCE with the reason', async (t) => {
  const dir = t.testdir();
  const manifest = (m: unknown, name: string): string => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    return d;
  };
  const base = {
    format: 'edgefleet-samples',
    version: 1,
    count: 2,
    tensors: [{ name: 'input', dtype: 'float32', dims: [2, 4], file: 'input.bin' }],
  };
  const short = manifest(base, 'short');
  writeFileSync(join(short, 'input.bin'), new Uint8Array(12));
  t.throws(() => readSampleDir(short), { code: 'EF_ERR_DATA_SOURCE', message: /12 bytes.*32/ });
  t.throws(() => readSampleDir(manifest(base, 'missing')), { code: 'EF_ERR_DATA_SOURCE', message: /missing/ });
  t.throws(() => readSampleDir(manifest({ ...base, tensors: [{ ...base.tensors[0], file: '../x.bin' }] }, 'escape')), {
    code: 'EF_ERR_DATA_SOURCE',
    message: /inside the directory/,
  });
  t.throws(() => readSampleDir(manifest({ ...base, tensors: [{ ...base.tensors[0], dims: [3, 4] }] }, 'count')), {
    code: 'EF_ERR_DATA_SOURCE',
    message: /sample count/,
  });
  t.throws(() => readSampleDir(manifest({ ...base, version: 2 }, 'version')), { code: 'EF_ERR_DATA_SOURCE' });
  t.throws(() => readSampleDir(manifest({ ...base, tensors: [{ ...base.tensors[0], dims: [2, 1e12] }] }, 'huge')), {
    code: 'EF_ERR_DATA_SOURCE',
    message: /limit/,
  });
  t.throws(() => readSampleDir(join(dir, 'nothing')), { code: 'EF_ERR_DATA_SOURCE', message: /manifest/ });
});

t.test(
  'random:N gives N samples whatever the batch dim; scalars become fixed inputs; runs take the model batch',
  async (t) => {
    const fixedBatch: ModelInputSpec[] = [{ name: 'emb', dtype: 'float32', dims: [1, 25, 96] }];
    const ds = loadDataSource('random:64', fixedBatch);
    t.equal(ds.count, 64, '64 samples, not one');
    t.same(ds.inputs.emb?.dims, [64, 25, 96], 'stacked along the batch axis');
    t.equal(runBatchSize(ds, [{ name: 'emb', shape: [1, 25, 96] }], 32), 1, 'fed one per run');
    const pairs = loadDataSource('random:5', [{ name: 'p', dtype: 'float32', dims: [2, 3] }]);
    t.same(pairs.inputs.p?.dims, [6, 3], 'a fixed batch of 2: rounded up to whole batches');
    const vad: ModelInputSpec[] = [
      { name: 'input', dtype: 'float32', dims: ['batch', 512] },
      { name: 'sr', dtype: 'int64', dims: [] },
    ];
    const v = loadDataSource('random:8', vad);
    t.equal(v.count, 8);
    t.same(v.fixed?.sr?.dims, [], 'the scalar is one fixed value fed with every sample');
    t.same(
      Object.keys(batchFeeds(v, 2, 4)).sort(),
      ['input', 'sr'],
      'a run gets the sampled slice and the fixed input',
    );
    t.same(batchFeeds(v, 2, 4).input?.dims, [2, 512]);
  },
);
