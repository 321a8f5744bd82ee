import t from 'tap';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { createRng } from '@edgefleet/compress/data/prng';
import { verifyModel, writeModel } from '@edgefleet/compress/ir/index';
import { initParams, MNIST_CNN, MNIST_MLP, type ParamArray } from '@edgefleet/compress/train/arch';
import { tf, useTrainBackend } from '@edgefleet/compress/train/backend';
import { conv2dSame } from '@edgefleet/compress/train/conv2d-grad';
import { exportArch } from '@edgefleet/compress/train/export-onnx';
import { predictArch, top1Accuracy, trainArch } from '@edgefleet/compress/train/trainer';
import { ortLogits } from '@edgefleet/compress/train/zoo';
import { measureCallCost } from '@edgefleet/compress/eval/call-cost';
import { buildDistilledZooModel, buildGraphZooModel } from '@edgefleet/compress/train/zoo-graph';

// Trains several tiny models with TensorFlow.js (~1 min alone on 2 cores, more next to other suites).
t.setTimeout(300_000);

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

/** Seeded non-zero biases too, so a bias mix-up in the export cannot hide. */
function randomParams(seed: number, params: ParamArray[]): ParamArray[] {
  const rng = createRng(seed);
  return params.map((p) =>
    p.name.endsWith('bias') ? { ...p, values: Float32Array.from(p.values, () => rng.uniform(-0.5, 0.5)) } : p,
  );
}

t.test('the wasm-friendly conv gradient equals tf.conv2d gradient on the cpu backend', async (t) => {
  const rng = createRng(3);
  const xv = Float32Array.from({ length: 2 * 6 * 5 * 3 }, () => rng.normal());
  const wv = Float32Array.from({ length: 3 * 3 * 3 * 4 }, () => rng.normal());
  const grads = async (backend: 'cpu' | 'wasm', custom: boolean): Promise<Float32Array[]> => {
    await useTrainBackend(backend);
    const x = tf.tensor4d(xv, [2, 6, 5, 3]);
    const w = tf.tensor4d(wv, [3, 3, 3, 4]);
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      tf.sum(
        tf.square(
          custom
            ? conv2dSame(a as tf.Tensor4D, b as tf.Tensor4D)
            : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'),
        ),
      );
    const [gx, gw] = tf.grads(f)([x, w]);
    return [gx?.dataSync() as Float32Array, gw?.dataSync() as Float32Array];
  };
  const [rx, rw] = await grads('cpu', false);
  const [cx, cw] = await grads('wasm', true);
  t.ok(maxAbsDiff(rx as Float32Array, cx as Float32Array) < 1e-3, 'input gradient matches');
  t.ok(
    maxAbsDiff(rw as Float32Array, cw as Float32Array) < 1e-3,
    `filter gradient matches (max |Δ| ${maxAbsDiff(rw as Float32Array, cw as Float32Array)})`,
  );
  t.ok(Math.max(...Array.from(rw as Float32Array, Math.abs)) > 1, 'gradients are not trivially zero');
});

t.test('a tiny MLP trains, is deterministic, and its ONNX export reproduces TensorFlow.js', async (t) => {
  const train = loadMnist({ split: 'train', limit: 300 });
  const opts = { seed: 11, epochs: 1, batchSize: 32, backend: 'wasm' as const };
  const a = await trainArch(MNIST_MLP, train, opts);
  const b = await trainArch(MNIST_MLP, train, opts);
  t.same(
    a.params.map((p) => Array.from(p.values.subarray(0, 50))),
    b.params.map((p) => Array.from(p.values.subarray(0, 50))),
    'same seed, same weights',
  );
  t.equal(a.epochs.length, 1);
  const test = loadMnist({ split: 'test', limit: 200 });
  const tfjs = predictArch(MNIST_MLP, a.params, test.inputs.input?.data as Float32Array, test.count);
  t.ok(top1Accuracy(tfjs, test.labels as Int32Array) > 0.5, 'one epoch on 300 digits is well above chance');
  const model = exportArch(MNIST_MLP, a.params, { seed: 11, epochs: 1 });
  t.ok(verifyModel(model).ok, 'exported graph verifies');
  t.same(
    model.graph.nodes.map((n) => n.opType),
    ['Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm'],
  );
  const onnx = await ortLogits(writeModel(model), test);
  t.ok(maxAbsDiff(onnx, tfjs) < 1e-4, `ORT logits match TensorFlow.js (max |Δ| ${maxAbsDiff(onnx, tfjs)})`);
});

t.test('the CNN export transposes HWIO→OIHW and NHWC→NCHW flatten order correctly', async (t) => {
  await useTrainBackend('wasm');
  const params = randomParams(5, initParams(MNIST_CNN, 21));
  const data = loadMnist({ split: 'calib', limit: 16, layout: 'image' });
  const tfjs = predictArch(MNIST_CNN, params, data.inputs.input?.data as Float32Array, data.count);
  const model = exportArch(MNIST_CNN, params, { seed: 21, epochs: 0 });
  t.ok(verifyModel(model).ok);
  t.same(
    model.graph.nodes.map((n) => n.opType),
    ['Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm'],
  );
  t.same(model.graph.initializers.get('l0.weight')?.dims, [8, 1, 3, 3]);
  const onnx = await ortLogits(writeModel(model), data);
  const diff = maxAbsDiff(onnx, tfjs);
  t.ok(diff < 1e-3, `ORT logits match TensorFlow.js (max |Δ| ${diff})`);
  t.ok(Math.max(...Array.from(tfjs, Math.abs)) > 0.1, 'logits are not trivially zero');
});

t.test(
  'graph-trainer zoo recipes: a teacher from its architecture and a student distilled from a zoo teacher',
  async (t) => {
    const tiny = {
      name: 'tiny',
      input: 'image' as const,
      layers: [
        { kind: 'conv' as const, filters: 2, kernel: 3, relu: true, stride: 2 },
        { kind: 'flatten' as const },
        { kind: 'dense' as const, units: 10, relu: false },
      ],
    };
    const teacher = await buildGraphZooModel(
      'mnist-cnn-large',
      { engine: 'graph', arch: tiny, floor: 0, fit: { seed: 1, epochs: 1 } },
      undefined,
    );
    t.ok(teacher.card.exportMaxAbsDiff < 1e-3, 'the export reproduces TensorFlow.js');
    t.equal(teacher.card.training.engine, 'graph');
    const cost = await measureCallCost(teacher.bytes, 'input', [1, 28, 28], { rounds: 3, runsPerRound: 10 });
    t.ok(cost.modelUs > 0 && cost.emptyCallUs > 0, 'the model and the empty call are timed');
    t.equal(cost.ratio, cost.modelUs / cost.emptyCallUs);
    t.ok(teacher.card.accuracy.top1 > 0.5, `one epoch of a 2-filter CNN: ${teacher.card.accuracy.top1}`);
    const student = await buildDistilledZooModel(
      'mnist-cnn-large-student',
      {
        engine: 'distill',
        teacher: 'mnist-cnn-large',
        student: 'mlp:8',
        floor: 0,
        temperature: 4,
        alpha: 0.9,
        fit: { seed: 1, epochs: 1 },
      },
      'models/zoo',
    );
    t.equal(student.card.distillation?.student, 'mlp:8');
    t.equal(student.card.distillation?.studentParams, 784 * 8 + 8 + 90);
    t.match(student.card.distillation?.teacherSha256, /^[0-9a-f]{64}$/);
  },
);
