import { readFileSync } from 'node:fs';
import t from 'tap';
import { isEdgefleetError } from '@edgefleet/shared';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { loadModel } from '@edgefleet/compress/ir/index';
import { tf } from '@edgefleet/compress/train/backend';
import { accuracyOfGraph, fitGraph, type TrainProgress } from '@edgefleet/compress/train/fit';
import { importTrainable } from '@edgefleet/compress/train/graph/trainable';
import { distillationLoss } from '@edgefleet/compress/train/losses';
import { buildStudent } from '@edgefleet/compress/train/student-spec';
import { instantiateArch } from '@edgefleet/compress/train/students';
import { createTeacher } from '@edgefleet/compress/train/teacher';

/** The training loop on a few hundred digits: seeded, stoppable, every loss term, clear errors. */

const teacherModel = loadModel(new Uint8Array(readFileSync('models/zoo/mnist-cnn.onnx')));
const train = loadMnist({ split: 'train', layout: 'image', limit: 192 });
const student = () => importTrainable(buildStudent(teacherModel, 'arch:c4s2,d16', 7).model);

const errorOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

t.test('the same seed trains the same weights; another seed other weights', async (t) => {
  const run = async (seed: number) => {
    const g = await student();
    await fitGraph(g, train, { seed, epochs: 1, batchSize: 32, augment: { shift: 2, rotate: 10, scale: 0.1 } });
    const w = g.weights();
    g.dispose();
    return w;
  };
  const [a, b, c] = [await run(3), await run(3), await run(4)];
  t.same(a.get('l0.weight'), b.get('l0.weight'), 'seed 3 twice: identical');
  t.notSame(a.get('l0.weight'), c.get('l0.weight'), 'seed 4: different shuffles and augmentations');
});

t.test('knowledge distillation: the KD term is zero for identical logits, and training lowers it', async (t) => {
  const z = tf.tensor2d([
    [1, 2, 3],
    [0, -1, 4],
  ]);
  t.ok(Math.abs(distillationLoss(z, z, 4).dataSync()[0] as number) < 1e-6, 'KL of a distribution with itself');
  t.ok((distillationLoss(z, tf.reverse(z, 1), 4).dataSync()[0] as number) > 0.1, 'positive when they differ');
  const teacher = await createTeacher(teacherModel);
  t.teardown(() => teacher.release());
  t.equal(teacher.logitsName, 'logits');
  const g = await student();
  t.teardown(() => g.dispose());
  const r = await fitGraph(g, train, { seed: 1, epochs: 3, batchSize: 32, teacher, useLabels: false, temperature: 4 });
  t.equal(r.epochs.length, 3);
  t.equal(r.epochs[0]?.trainAccuracy, undefined, 'an unlabelled transfer set reports no training accuracy');
  t.ok(
    (r.epochs[2]?.loss as number) < (r.epochs[0]?.loss as number),
    `KD loss falls: ${r.epochs.map((e) => e.loss.toFixed(3))}`,
  );
});

t.test('feature matching projects a narrower student onto the teacher and trains the projection', async (t) => {
  const teacher = await createTeacher(teacherModel, ['l0.relu']);
  t.teardown(() => teacher.release());
  const g = await importTrainable(buildStudent(teacherModel, 'arch:c4,p2,d16', 7).model);
  t.teardown(() => g.dispose());
  t.same(g.valueShapes.get('l0.relu'), [4, 28, 28], 'student feature: 4 channels; the teacher has 8');
  const r = await fitGraph(g, train, {
    seed: 1,
    epochs: 1,
    batchSize: 64,
    teacher,
    features: [{ student: 'l0.relu', teacher: 'l0.relu', weight: 0.5 }],
  });
  t.ok(Number.isFinite(r.epochs[0]?.loss), 'trains');
  const err = await errorOf(
    fitGraph(g, train, { seed: 1, epochs: 1, teacher, features: [{ student: 'l3.relu', teacher: 'l0.relu' }] }),
  );
  t.ok(isEdgefleetError(err, 'EF_ERR_TRAIN_OPTIONS'), 'a flat student feature cannot match a spatial one');
});

t.test('an AbortSignal stops training after the current step', async (t) => {
  const g = await student();
  t.teardown(() => g.dispose());
  const controller = new AbortController();
  const events: TrainProgress[] = [];
  const r = await fitGraph(g, train, {
    seed: 1,
    epochs: 5,
    batchSize: 32,
    signal: controller.signal,
    onProgress: (p) => {
      events.push(p);
      if (p.kind === 'step' && p.epoch === 2 && p.step === 2) controller.abort();
    },
  });
  t.equal(r.stopped, true);
  t.equal(r.epochs.length, 1, 'one full epoch was reported');
  t.equal(events.filter((e) => e.kind === 'step').length, 6 + 2, 'six steps of epoch 1, two of epoch 2');
});

t.test('bad data and options are refused with clear errors', async (t) => {
  const g = await student();
  t.teardown(() => g.dispose());
  const { labels: _drop, ...unlabelled } = train;
  const e1 = await errorOf(fitGraph(g, unlabelled, { seed: 1, epochs: 1 }));
  t.ok(isEdgefleetError(e1, 'EF_ERR_TRAIN_DATA'), 'no labels and no teacher');
  t.match((e1 as Error).message, /needs a teacher/);
  const flat = loadMnist({ split: 'train', limit: 8 });
  const e2 = await errorOf(fitGraph(g, flat, { seed: 1, epochs: 1 }));
  t.ok(isEdgefleetError(e2, 'EF_ERR_TRAIN_DATA'), 'flat data for an image input');
  t.match((e2 as Error).message, /does not fit input input \[N,1,28,28\]/);
  const nan = {
    ...train,
    inputs: { input: { ...train.inputs.input!, data: new Float32Array(192 * 784).fill(Number.NaN) } },
  };
  const e3 = await errorOf(fitGraph(g, nan, { seed: 1, epochs: 1, batchSize: 64 }));
  t.ok(isEdgefleetError(e3, 'EF_ERR_TRAIN_DIVERGED'), 'a non-finite loss');
  t.ok(
    [...g.weights().values()].every((w) => w.every(Number.isFinite)),
    'the diverged step was not applied: the weights stay finite',
  );
  const flatTeacher = loadModel(new Uint8Array(readFileSync('models/zoo/mnist-mlp.onnx')));
  const mlp = await importTrainable(buildStudent(flatTeacher, 'mlp:8', 1).model);
  t.teardown(() => mlp.dispose());
  const e4 = await errorOf(
    fitGraph(mlp, loadMnist({ split: 'train', limit: 8 }), { seed: 1, epochs: 1, augment: { shift: 1 } }).then(() =>
      fitGraph(g, loadMnist({ split: 'train', layout: 'image', limit: 8 }), {
        seed: 1,
        epochs: 1,
        augment: { shift: 1 },
      }),
    ),
  );
  t.equal(e4, undefined, 'augmentation works on flat square images and on [C,H,W]');
  t.ok(accuracyOfGraph(g, train) >= 0, 'accuracy of a graph on labelled data');
});

t.test('a teacher that scores other classes than the student is refused before training', async (t) => {
  const g = await importTrainable(buildStudent(teacherModel, 'arch:c4s2,d16', 1).model);
  t.teardown(() => g.dispose());
  const fiveClasses = instantiateArch(
    { name: 'five', input: 'image', layers: [{ kind: 'flatten' }, { kind: 'dense', units: 5, relu: false }] },
    1,
    { input: 'input', output: 'logits' },
  );
  const other = await createTeacher(fiveClasses);
  t.teardown(() => other.release());
  const err = await errorOf(fitGraph(g, train, { seed: 1, epochs: 1, teacher: other }));
  t.ok(isEdgefleetError(err, 'EF_ERR_TRAIN_OPTIONS'));
  t.match((err as Error).message, /scores logits \[N,10\] do not match the teacher's logits \[N,5\]/);
});
