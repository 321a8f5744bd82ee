import { readFileSync } from 'node:fs';
import t from 'tap';
import { isEdgefleetError } from '@edgefleet/shared';
import { loadModel, writeModel, type Model } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { tf } from '@edgefleet/compress/train/backend';
import { importTrainable } from '@edgefleet/compress/train/graph/trainable';
import { buildAllOps, buildShapeOps, buildUntrainable } from '../fixtures/train-models.js';
import { seededFloats } from '../fixtures/ir-models.js';

/** The trainable graph computes what onnxruntime computes, for every op of the set, and exports back. */

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

async function ortRun(model: Model, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await createOrtSession(writeModel(model));
  try {
    const name = model.graph.inputs[0]?.name ?? '';
    const out = await session.run({ [name]: { dtype: 'float32', dims, data: x } });
    const y = out[model.graph.outputs[0]?.name ?? ''];
    if (y?.dtype !== 'float32') throw new Error('no float output');
    return y.data;
  } finally {
    await session.release();
  }
}

const CASES: Array<{ name: string; build: () => Model; dims: number[] }> = [
  { name: 'all-ops (MobileNetV3-like block)', build: buildAllOps, dims: [3, 3, 12, 12] },
  {
    name: 'shape-ops (Concat, padded AveragePool, Reshape, Gemm alpha/beta)',
    build: buildShapeOps,
    dims: [3, 1, 8, 8],
  },
];

for (const c of CASES) {
  for (const batchNorm of ['fold', 'frozen', 'train'] as const) {
    t.test(`${c.name}, BatchNorm ${batchNorm}: TensorFlow.js forward equals onnxruntime`, async (t) => {
      const model = c.build();
      const x = seededFloats(
        c.dims.reduce((a, b) => a * b, 1),
        9,
      );
      const g = await importTrainable(model, { batchNorm });
      t.teardown(() => g.dispose());
      const tfjs = tf.tidy(() =>
        g.forward(tf.tensor(x, c.dims), { training: false }).output.dataSync(),
      ) as Float32Array;
      const ort = await ortRun(model, x, c.dims);
      t.ok(maxAbsDiff(tfjs, ort) < 1e-4, `max |Δ| ${maxAbsDiff(tfjs, ort)}`);
      t.ok(
        tfjs.some((v) => Math.abs(v) > 0.01),
        'outputs are not trivially zero',
      );
      const hasBn = model.graph.nodes.some((n) => n.opType === 'BatchNormalization');
      const exported = g.exportModel();
      t.equal(
        exported.graph.nodes.some((n) => n.opType === 'BatchNormalization'),
        hasBn && batchNorm !== 'fold',
        'BatchNorm folded only in fold mode',
      );
    });
  }
}

t.test('training moves the weights, and the export carries them to onnxruntime', async (t) => {
  const model = buildAllOps();
  const g = await importTrainable(model, { batchNorm: 'train' });
  t.teardown(() => g.dispose());
  const dims = [4, 3, 12, 12];
  const x = tf.tensor(seededFloats(4 * 3 * 144, 3), dims);
  const target = tf.oneHot(tf.tensor1d([1, 3, 5, 7], 'int32'), 10);
  const before = g.weights();
  const opt = tf.train.sgd(0.5);
  for (let i = 0; i < 3; i++) {
    let stats: ReturnType<typeof g.forward>['stats'] = [];
    opt.minimize(
      () => {
        const r = g.forward(x, { training: true });
        stats = r.stats;
        return tf.losses.meanSquaredError(target, r.output) as tf.Scalar;
      },
      false,
      g.trainableVariables(),
    );
    g.applyStats(stats);
  }
  const after = g.weights();
  for (const name of ['stem.w', 'dw.w', 'se.reduce.w', 'pw.w', 'fc1.w', 'fc2.w', 'fc2.b', 'affine.s', 'bn.s', 'bn.m'])
    t.ok(maxAbsDiff(before.get(name) as Float32Array, after.get(name) as Float32Array) > 1e-6, `${name} changed`);
  t.same(after.has('clip.hi'), false, 'Clip bounds are constants, not parameters');
  const exported = g.exportModel();
  const xs = x.dataSync() as Float32Array;
  const tfjs = tf.tidy(() => g.forward(x, { training: false }).output.dataSync()) as Float32Array;
  const ort = await ortRun(loadModel(writeModel(exported)), xs, dims);
  t.ok(maxAbsDiff(tfjs, ort) < 1e-4, `exported model reproduces the trained graph (max |Δ| ${maxAbsDiff(tfjs, ort)})`);
  t.same(
    exported.graph.nodes.map((n) => n.name),
    model.graph.nodes.map((n) => n.name),
    'same nodes, same names',
  );
});

t.test('the zoo mnist-cnn imports and reproduces its onnxruntime logits', async (t) => {
  const model = loadModel(new Uint8Array(readFileSync('models/zoo/mnist-cnn.onnx')));
  const g = await importTrainable(model);
  t.teardown(() => g.dispose());
  t.equal(g.parameterCount(), 52138, 'every weight and bias is trainable');
  t.same(g.valueShapes.get('l0.relu'), [8, 28, 28], 'value shapes recorded in ONNX layout');
  const x = seededFloats(2 * 784, 4).map((v) => Math.abs(v));
  const tfjs = tf.tidy(() => g.forward(tf.tensor(x, [2, 1, 28, 28]), { training: false }).output.dataSync());
  const ort = await ortRun(model, x, [2, 1, 28, 28]);
  t.ok(maxAbsDiff(tfjs as Float32Array, ort) < 1e-4);
});

t.test('a graph outside the trainable set is refused with the op named', async (t) => {
  const err = await importTrainable(buildUntrainable()).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isEdgefleetError(err, 'EF_ERR_TRAIN_UNSUPPORTED'), 'EF_ERR_TRAIN_UNSUPPORTED');
  t.match((err as Error).message, /Resize \(node upsample: op outside the trainable set\)/);
  t.same((err as { details: { ops: string[] } }).details.ops, ['Resize']);
});
