import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { loadModel, writeModel, type Tensor } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { writeSampleDir } from '@edgefleet/compress/data/sample-dir';
import { evaluateModel, evalResultSchema, accuracyOf } from '@edgefleet/compress/eval/index';

const MLP = 'models/zoo/mnist-mlp.onnx';
const CNN = 'models/zoo/mnist-cnn.onnx';
const FAST = { timedRuns: 5, warmupRuns: 1 } as const;

/** Direct onnxruntime logits in one batch, independent of the evaluator's batching. */
async function directLogits(bytes: Uint8Array, pixels: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await createOrtSession(bytes);
  try {
    const out = await s.run({ input: { dtype: 'float32', dims, data: pixels } });
    return out.logits?.data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const [path, layout] of [
  [MLP, 'flat'],
  [CNN, 'image'],
] as const) {
  t.test(`${path}: evaluator accuracy and size equal a direct computation`, async (t) => {
    const r = await evaluateModel(path, { data: 'mnist:test:600', ...FAST });
    t.ok(evalResultSchema.safeParse(r).success);
    const test = loadMnist({ split: 'test', limit: 600, layout });
    const bytes = new Uint8Array(readFileSync(path));
    const logits = await directLogits(bytes, test.inputs.input?.data as Float32Array, [
      ...(test.inputs.input?.dims ?? []),
    ]);
    t.same(r.accuracy, accuracyOf(logits, test.labels as Int32Array));
    t.equal(r.data.count, 600);
    t.equal(r.size.bytes, statSync(path).size);
    t.equal(r.size.gzipBytes, gzipSync(bytes, { level: 9 }).byteLength);
    t.equal(r.latency?.timedRuns, 5);
    t.ok((r.latency?.p50Ms ?? -1) >= 0 && (r.latency?.p50Ms ?? 0) <= (r.latency?.p95Ms ?? -1), 'p50 ≤ p95');
    t.equal(r.latency?.threads, 1);
    t.same(r.memory.unknownOps, [], 'every zoo op has a shape rule');
  });
}

t.test('memory estimate of the zoo models, by hand', async (t) => {
  const mlp = await evaluateModel(MLP, { data: 'mnist:test:4', latency: false });
  t.equal(mlp.memory.weightBytes, (784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10) * 4);
  t.equal(mlp.memory.activationPeakBytes, 784 * 4 + 256 * 4, 'input and first hidden layer at batch 1');
  const cnn = await evaluateModel(CNN, { data: 'mnist:test:4', latency: false });
  t.equal(cnn.memory.activationPeakBytes, 2 * 8 * 28 * 28 * 4, 'first conv output and its ReLU');
  t.equal(cnn.memory.estimatedPeakBytes, cnn.memory.weightBytes + 2 * 8 * 28 * 28 * 4);
  t.equal(mlp.latency, null);
});

t.test('fidelity to a reference equals a direct computation', async (t) => {
  const dir = t.testdir();
  const model = loadModel(new Uint8Array(readFileSync(MLP)));
  // Perturb the output layer so the two models disagree a little.
  const w = model.graph.initializers.get('l2.weight') as Tensor & { dtype: 'float32' };
  const data = w.data as Float32Array;
  for (let i = 0; i < data.length; i += 7) data[i] = (data[i] as number) * 1.8 + 0.05;
  const variant = join(dir, 'variant.onnx');
  const bytes = writeModel(model);
  await import('node:fs/promises').then((fs) => fs.writeFile(variant, bytes));
  const r = await evaluateModel(variant, { data: 'mnist:test:500', reference: MLP, latency: false });
  const test = loadMnist({ split: 'test', limit: 500 });
  const px = test.inputs.input?.data as Float32Array;
  const a = await directLogits(bytes, px, [500, 784]);
  const b = await directLogits(new Uint8Array(readFileSync(MLP)), px, [500, 784]);
  let agree = 0;
  let cos = 0;
  let maxAbs = 0;
  for (let i = 0; i < 500; i++) {
    const x = a.subarray(i * 10, i * 10 + 10);
    const y = b.subarray(i * 10, i * 10 + 10);
    if (x.indexOf(Math.max(...x)) === y.indexOf(Math.max(...y))) agree++;
    let dot = 0;
    let nx = 0;
    let ny = 0;
    for (let k = 0; k < 10; k++) {
      dot += (x[k] as number) * (y[k] as number);
      nx += (x[k] as number) ** 2;
      ny += (y[k] as number) ** 2;
      maxAbs = Math.max(maxAbs, Math.abs((x[k] as number) - (y[k] as number)));
    }
    cos += dot / Math.sqrt(nx * ny);
  }
  const f = r.fidelity;
  if (!f) throw new Error('no fidelity');
  t.equal(f.count, 500);
  t.equal(f.top1Agreement, agree / 500);
  t.ok(f.top1Agreement < 1, 'the perturbation changes some predictions');
  t.ok(Math.abs(f.meanCosine - cos / 500) < 1e-6, `mean cosine ${f.meanCosine} vs ${cos / 500}`);
  t.ok(Math.abs(f.maxAbsError - maxAbs) < 1e-4, `max abs error ${f.maxAbsError} vs ${maxAbs}`);
  t.equal(f.reference, MLP);
});

t.test('data that does not fit the model names both shapes', async (t) => {
  await t.rejects(evaluateModel(CNN, { data: 'random:4x784', latency: false }), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /\[4,784\].*\[N,1,28,28\]/,
  });
  const dir = t.testdir();
  writeSampleDir(join(dir, 'img'), loadMnist({ split: 'calib', limit: 3, layout: 'image' }));
  await t.rejects(evaluateModel(MLP, { data: join(dir, 'img'), latency: false }), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /\[3,1,28,28\].*\[N,784\]/,
  });
  await t.rejects(evaluateModel(MLP, { data: 'mnist:test:8', reference: CNN, latency: false }), {
    code: 'EF_ERR_DATA_SHAPE',
  });
});

t.test('random data and self-fidelity on a model without labels', async (t) => {
  const r = await evaluateModel(MLP, { data: 'random:6', reference: MLP, ...FAST });
  t.equal(r.accuracy, null);
  t.equal(r.data.labelled, false);
  t.same({ agree: r.fidelity?.top1Agreement, max: r.fidelity?.maxAbsError }, { agree: 1, max: 0 });
});
