import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { loadModel, sha256Hex } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { buildStudent } from '@edgefleet/compress/train/student-spec';
import { parameterCountOf } from '@edgefleet/compress/train/students';
import { ZOO_RECIPES, type ZooCard } from '@edgefleet/compress/train/zoo';

/**
 * The quality bar for distillation, on the committed models (`npm run zoo` trains them
 * once; a test does not retrain 20 epochs): a student with at most 1/8 of mnist-cnn-large's
 * parameters, distilled from it, within 1.0 point of it on the 2,000-digit test split, both
 * measured here by onnxruntime.
 */

const load = (name: string) => {
  const bytes = new Uint8Array(readFileSync(`models/zoo/${name}.onnx`));
  const card = JSON.parse(readFileSync(`models/zoo/${name}.json`, 'utf8')) as ZooCard;
  return { bytes, card, model: loadModel(bytes) };
};

async function top1(bytes: Uint8Array): Promise<number> {
  const test = loadMnist({ split: 'test', layout: 'image' });
  const s = await createOrtSession(bytes);
  try {
    const x = test.inputs.input?.data as Float32Array;
    const out = await s.run({ input: { dtype: 'float32', dims: [test.count, 1, 28, 28], data: x } });
    const l = out.logits?.data as Float32Array;
    let ok = 0;
    for (let i = 0; i < test.count; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if ((l[i * 10 + c] as number) > (l[i * 10 + best] as number)) best = c;
      if (best === test.labels?.[i]) ok++;
    }
    return ok / test.count;
  } finally {
    await s.release();
  }
}

t.test('the distilled student has ≤ 1/8 of the teacher’s parameters and is within 1.0 point of it', async (t) => {
  const teacher = load('mnist-cnn-large');
  const student = load('mnist-cnn-large-student');
  const [tp, sp] = [parameterCountOf(teacher.model), parameterCountOf(student.model)];
  t.ok(sp * 8 <= tp, `student ${sp} parameters, teacher ${tp} (1/${(tp / sp).toFixed(1)})`);
  const [ta, sa] = [await top1(teacher.bytes), await top1(student.bytes)];
  t.ok(ta >= 0.988, `teacher top-1 ${(ta * 100).toFixed(2)}% ≥ 98.8%`);
  t.ok(
    sa >= ta - 0.01,
    `student top-1 ${(sa * 100).toFixed(2)}% within 1.0 point of the teacher's ${(ta * 100).toFixed(2)}%`,
  );
  t.equal(student.card.distillation?.teacherSha256, sha256Hex(teacher.bytes), 'distilled from this very teacher file');
  t.equal(student.card.distillation?.teacherTop1, ta, 'its card quotes the teacher as measured here');
});

t.test('the committed student is the architecture its recipe builds', async (t) => {
  const recipe = ZOO_RECIPES['mnist-cnn-large-student'];
  if (recipe.engine !== 'distill') throw new Error('not a distill recipe');
  const teacher = load('mnist-cnn-large').model;
  const built = buildStudent(teacher, recipe.student, recipe.fit.seed).model;
  const shapes = (m: typeof built) => [...m.graph.initializers.values()].map((i) => `${i.name}:${i.dims.join('x')}`);
  t.same(shapes(load('mnist-cnn-large-student').model), shapes(built));
  t.same(
    load('mnist-cnn-large-student').model.graph.nodes.map((n) => n.opType),
    built.graph.nodes.map((n) => n.opType),
  );
});
