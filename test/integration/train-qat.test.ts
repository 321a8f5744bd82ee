import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { compressModel } from '@edgefleet/compress/compress-model';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import { loadModel, writeModel } from '@edgefleet/compress/ir/index';
import { decodeModelProto } from '@edgefleet/compress/ir/proto';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { tf } from '@edgefleet/compress/train/backend';
import { fitGraph } from '@edgefleet/compress/train/fit';
import { importTrainable } from '@edgefleet/compress/train/graph/trainable';
import { prepareQat } from '@edgefleet/compress/train/qat';
import { buildUntrainable, imbalanceChannels } from '../fixtures/train-models.js';

/** QAT trains exactly what int8-static writes, and onnxruntime runs it as it runs int8-static's graph. */

// ~1 min of training in all (the QAT-recovers test trains 2 epochs on 2,048 digits); on a box
// shared with other suites that can exceed tap's 120 s default.
t.setTimeout(300_000);

const cnnBytes = new Uint8Array(readFileSync('models/zoo/mnist-cnn.onnx'));
const calib = loadMnist({ split: 'calib', layout: 'image', limit: 256 });
const test = loadMnist({ split: 'test', layout: 'image', limit: 500 });

async function logitsOf(bytes: Uint8Array, n = test.count): Promise<Float32Array> {
  const s = await createOrtSession(bytes);
  try {
    const x = test.inputs.input;
    if (!x) throw new Error('no input');
    const out = await s.run({
      input: { dtype: 'float32', dims: [n, 1, 28, 28], data: (x.data as Float32Array).subarray(0, n * 784) },
    });
    return out.logits?.data as Float32Array;
  } finally {
    await s.release();
  }
}

const argmaxes = (l: Float32Array): number[] =>
  Array.from({ length: l.length / 10 }, (_, i) => {
    let best = 0;
    for (let c = 1; c < 10; c++) if ((l[i * 10 + c] as number) > (l[i * 10 + best] as number)) best = c;
    return best;
  });

t.test('QAT before any step exports byte for byte what int8-static writes (fallback off)', async (t) => {
  const g = await importTrainable(loadModel(cnnBytes));
  t.teardown(() => g.dispose());
  const qat = await prepareQat(g, calib);
  t.equal(qat.quantizedNodes, 4, 'two Conv and two Gemm');
  const mine = writeModel(await qat.exportQdq());
  const ptq = await compressModel(cnnBytes, [{ pass: 'int8-static', options: { fidelity: 0 } }], { calib });
  t.equal(Buffer.compare(Buffer.from(mine), Buffer.from(ptq.bytes)), 0, 'identical bytes');
});

t.test('after QAT steps the trained graph is what onnxruntime runs, fused into integer kernels', async (t) => {
  const g = await importTrainable(loadModel(cnnBytes));
  t.teardown(() => g.dispose());
  const qat = await prepareQat(g, calib);
  await fitGraph(g, loadMnist({ split: 'train', layout: 'image', limit: 512 }), {
    seed: 1,
    epochs: 1,
    learningRate: 0.0005,
    quant: qat.hooks,
  });
  const bytes = writeModel(await qat.exportQdq());
  const ort = await logitsOf(bytes);
  const x = test.inputs.input?.data as Float32Array;
  const mine = tf.tidy(
    () =>
      g
        .forward(tf.tensor(x, [test.count, 1, 28, 28]), { training: false, quant: qat.hooks })
        .output.dataSync() as Float32Array,
  );
  const a = argmaxes(ort);
  const b = argmaxes(mine);
  const agree = a.filter((v, i) => v === b[i]).length / a.length;
  t.ok(agree >= 0.995, `top-1 agreement between the fake-quantized graph and onnxruntime: ${agree}`);
  const ptq = await compressModel(cnnBytes, [{ pass: 'int8-static', options: { fidelity: 0 } }], { calib });
  t.same(
    loadModel(bytes).graph.nodes.map((n) => n.opType),
    loadModel(ptq.bytes).graph.nodes.map((n) => n.opType),
    'the same QDQ layout as int8-static',
  );
  const optimized = join(t.testdir(), 'optimized.onnx');
  await (await createOrtSession(bytes, { optimizedModelFilePath: optimized })).release();
  const ops = (decodeModelProto(readFileSync(optimized)).graph?.node ?? []).map(
    (n) => `${n.domain ? `${n.domain}.` : ''}${n.opType}`,
  );
  t.equal(ops.filter((o) => o === 'com.microsoft.QLinearConv').length, 2, 'both convolutions run as QLinearConv');
  t.equal(ops.filter((o) => o === 'com.microsoft.QGemm').length, 2, 'both dense layers run as QGemm');
});

t.test('the int8-qat preset trains inside a compression pipeline', async (t) => {
  const train = loadDataSource('mnist:train:512', modelInputsOf(loadModel(cnnBytes)), { defaultSplit: 'train' });
  const { bytes, report } = await compressModel(cnnBytes, 'int8-qat', { calib, train });
  const qat = report.passes.find((p) => p.pass === 'qat');
  t.equal(qat?.ok, true);
  t.match(
    qat?.summary,
    /quantization-aware training: 1 epoch\(s\) distilled from the pipeline input.*4 node\(s\) → int8 QDQ/,
  );
  t.ok(report.size.ratio < 0.3, `about 4x smaller: ${report.size.ratio.toFixed(3)}`);
  const [f, q] = [argmaxes(await logitsOf(cnnBytes)), argmaxes(await logitsOf(bytes))];
  const labels = Array.from(test.labels as Int32Array);
  const acc = (p: number[]) => p.filter((v, i) => v === labels[i]).length / labels.length;
  t.ok(acc(f) - acc(q) <= 0.01, `top-1 ${acc(q)} vs fp32 ${acc(f)} on 500 test digits`);
});

t.test(
  'a graph outside the trainable set: finetune skips with the op named, qat falls back to PTQ, the pipeline goes on',
  async (t) => {
    const bytes = writeModel(buildUntrainable());
    const data = loadDataSource('random:16', modelInputsOf(loadModel(bytes)));
    const ft = await compressModel(bytes, [{ pass: 'finetune' }, { pass: 'fp16' }], { calib: data });
    t.equal(ft.report.ok, true, 'pipeline ok');
    t.match(
      ft.report.passes[0]?.summary,
      /not trained: cannot train this graph: Resize \(node upsample: op outside the trainable set\)/,
    );
    t.equal(ft.report.passes[1]?.pass, 'fp16', 'the next pass ran');
    t.ok(
      ft.report.layers.some((l) => l.node === 'upsample'),
      'the refused node is listed',
    );
    const q = await compressModel(bytes, 'int8-qat', { calib: data });
    t.match(
      q.report.passes.at(-1)?.summary,
      /not trained: .*Resize.*; post-training int8-static instead: 1 node\(s\) → int8 QDQ/,
    );
    t.ok(loadModel(q.bytes).graph.nodes.some((n) => n.opType === 'QuantizeLinear'));
  },
);

/**
 * The issue's bar: on a student where post-training int8 loses ≥ 0.5 point, QAT loses less. On
 * MNIST, int8-static loses nothing on the distilled student as trained (nor on any student we
 * trained normally: see docs/design-notes.md), so the student's channels are first imbalanced by
 * a float-exact rescaling (fixtures/train-models.ts), the drift training without normalisation
 * allows. Seconds of QAT: 2 epochs on 2,048 digits.
 */
t.test('on a student where post-training int8 loses ≥ 0.5 point, QAT int8 loses less', async (t) => {
  const bytes = new Uint8Array(readFileSync('models/zoo/mnist-cnn-large-student.onnx'));
  const balanced = loadModel(bytes);
  const convs = balanced.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name);
  const student = imbalanceChannels(loadModel(bytes), convs[0] ?? '', convs[1] ?? '', 32, 3);
  const floatBytes = writeModel(student);
  const full = loadMnist({ split: 'test', layout: 'image' });
  const top1 = async (b: Uint8Array): Promise<number> => {
    const s = await createOrtSession(b);
    try {
      const x = full.inputs.input?.data as Float32Array;
      const out = await s.run({ input: { dtype: 'float32', dims: [full.count, 1, 28, 28], data: x } });
      const p = argmaxes(out.logits?.data as Float32Array);
      return p.filter((v, i) => v === full.labels?.[i]).length / full.count;
    } finally {
      await s.release();
    }
  };
  const allInt8 = [{ pass: 'int8-static', options: { fidelity: 0 } }];
  const fp32 = await top1(floatBytes);
  t.equal(fp32, await top1(bytes), 'the rescaled student computes what the distilled student computes');
  const balancedLoss = fp32 - (await top1((await compressModel(bytes, allInt8, { calib })).bytes));
  t.comment(`as distilled, post-training int8 loses ${(balancedLoss * 100).toFixed(2)} points`);
  const ptqLoss = fp32 - (await top1((await compressModel(floatBytes, allInt8, { calib })).bytes));
  t.ok(ptqLoss >= 0.005, `post-training int8 loses ${(ptqLoss * 100).toFixed(2)} points (≥ 0.5)`);
  const g = await importTrainable(student);
  t.teardown(() => g.dispose());
  const qat = await prepareQat(g, calib);
  await fitGraph(g, loadMnist({ split: 'train', layout: 'image', limit: 2048 }), {
    seed: 2,
    epochs: 2,
    learningRate: 0.0003,
    quant: qat.hooks,
  });
  const qatLoss = fp32 - (await top1(writeModel(await qat.exportQdq())));
  t.ok(qatLoss < ptqLoss, `QAT int8 loses ${(qatLoss * 100).toFixed(2)} points, less than post-training int8`);
});

t.test(
  'fine-tuning after pruning: prune-structured → finetune in one recipe distils the cut model from the original',
  async (t) => {
    // prune-structured's own output (half the channels of every group by L1, no reconstruct, so
    // the cut costs accuracy), then the finetune pass, whose teacher is the pipeline's input: the
    // unpruned model.
    const cutSteps = [
      { pass: 'constants-to-initializers' },
      { pass: 'prune-structured', ratio: 0.5, importance: 'l1' },
    ];
    const train = loadMnist({ split: 'train', layout: 'image', limit: 2048 });
    const cut = await compressModel(cnnBytes, cutSteps, { calib });
    const tuned = await compressModel(
      cnnBytes,
      [...cutSteps, { pass: 'finetune', epochs: 2, seed: 1, learningRate: 0.001 }],
      { calib, train },
    );
    const prunedParams = cut.report.pruning?.totals.paramsAfter;
    const allParams = cut.report.pruning?.totals.paramsBefore ?? 0;
    t.ok(
      prunedParams !== undefined && prunedParams < allParams / 2,
      `pruned to ${prunedParams} of ${allParams} parameters`,
    );
    t.match(
      tuned.report.passes[2]?.summary,
      new RegExp(`fine-tuned: 2 epoch\\(s\\) distilled from the pipeline input, .*, ${prunedParams} parameters`),
      'trained the pruned shapes as they are, against the unpruned input',
    );
    const labels = Array.from(test.labels as Int32Array);
    const acc = async (b: Uint8Array) =>
      argmaxes(await logitsOf(b)).filter((v, i) => v === labels[i]).length / labels.length;
    const [base, pruned, recovered] = [await acc(cnnBytes), await acc(cut.bytes), await acc(tuned.bytes)];
    t.ok(pruned < base - 0.1, `pruning half the channels without a refit costs accuracy: ${pruned} vs ${base}`);
    t.ok(
      recovered > pruned + 0.3,
      `two epochs of fine-tuning win it back: ${recovered} (pruned ${pruned}, original ${base})`,
    );
  },
);

t.test('finetune as the first pass has no teacher: it trains on labels, or says why it cannot', async (t) => {
  const train = loadMnist({ split: 'train', layout: 'image', limit: 256 });
  const r = await compressModel(cnnBytes, [{ pass: 'finetune' }], { train });
  t.match(r.report.passes[0]?.summary, /fine-tuned: 1 epoch\(s\) on labels/);
  const { labels: _l, ...unlabelled } = train;
  const u = await compressModel(cnnBytes, [{ pass: 'finetune' }], { train: unlabelled });
  t.match(u.report.passes[0]?.summary, /not trained: no earlier pass changed the model.*no labels/);
  t.not(u.report.sha256, r.report.sha256, 'the untouched model differs from the trained one');
});
