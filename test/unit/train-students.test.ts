import { readFileSync } from 'node:fs';
import t from 'tap';
import { isEdgefleetError } from '@edgefleet/shared';
import { loadModel, verifyModel, writeModel } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { MNIST_CNN_LARGE } from '@edgefleet/compress/train/arch';
import { buildStudent, parseStudentSpec, studentArch } from '@edgefleet/compress/train/student-spec';
import { describeChain, instantiateArch, parameterCountOf } from '@edgefleet/compress/train/students';
import { buildAllOps } from '../fixtures/train-models.js';

/** Students built from a teacher: parsing, each transform, the exported initialised model. */

const cnn = loadModel(new Uint8Array(readFileSync('models/zoo/mnist-cnn.onnx')));
const large = instantiateArch(MNIST_CNN_LARGE, 1, { input: 'input', output: 'logits' });

const errorOf = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err: unknown) {
    return err;
  }
  return undefined;
};

t.test('the zoo CNN reads back as its architecture', async (t) => {
  const arch = describeChain(cnn);
  if (typeof arch === 'string') throw new Error(arch);
  t.same(
    arch.layers.map((l) =>
      l.kind === 'conv'
        ? `c${l.filters}s${l.stride}${l.relu ? 'r' : ''}`
        : l.kind === 'dense'
          ? `d${l.units}${l.relu ? 'r' : ''}`
          : l.kind,
    ),
    ['c8s1r', 'maxpool', 'c16s1r', 'maxpool', 'flatten', 'd64r', 'd10'],
  );
  t.same(arch.image, [28, 28, 1]);
  t.match(
    describeChain(buildAllOps()),
    /not part of a plain chain|more than one node/,
    'a branching graph is not a chain',
  );
});

const CASES = [
  { spec: 'width:0.5', layers: 'c4 p c8 p f d32 d10', params: 4 * 9 + 4 + (4 * 8 * 9 + 8) + (392 * 32 + 32) + 330 },
  { spec: 'width:1,0.5,0.25', layers: 'c8 p c8 p f d16 d10' },
  { spec: 'shallow:1', layers: 'c8 p c16 p f d10' },
  { spec: 'strided', layers: 'c8s2 c16s2 f d64 d10' },
  { spec: 'width:0.5+strided', layers: 'c4s2 c8s2 f d32 d10' },
  { spec: 'mlp:128,64', layers: 'f d128 d64 d10', params: 784 * 128 + 128 + 128 * 64 + 64 + 650 },
  { spec: 'arch:c16s2,p2,c32k5s1v,d48', layers: 'c16s2 p c32 f d48 d10' },
];

for (const c of CASES) {
  t.test(`student ${c.spec} of mnist-cnn`, async (t) => {
    const arch = studentArch(cnn, parseStudentSpec(c.spec));
    const short = arch.layers
      .map((l) =>
        l.kind === 'conv'
          ? `c${l.filters}${(l.stride ?? 1) > 1 ? `s${l.stride}` : ''}`
          : l.kind === 'dense'
            ? `d${l.units}`
            : l.kind === 'maxpool'
              ? 'p'
              : 'f',
      )
      .join(' ');
    t.equal(short, c.layers);
    const { model } = buildStudent(cnn, c.spec, 3);
    t.ok(verifyModel(model).ok, 'the student verifies');
    if (c.params !== undefined) t.equal(parameterCountOf(model), c.params, 'parameter count');
    t.equal(model.graph.inputs[0]?.name, 'input', "keeps the teacher's input name");
    t.equal(model.graph.outputs[0]?.name, 'logits', 'and its output name');
    const s = await createOrtSession(writeModel(model));
    t.teardown(() => s.release());
    const out = await s.run({
      input: { dtype: 'float32', dims: [2, 1, 28, 28], data: new Float32Array(2 * 784).fill(0.3) },
    });
    t.same(out.logits?.dims, [2, 10], 'onnxruntime runs it: 10 scores per sample');
  });
}

t.test('the same seed gives the same student, another seed another', async (t) => {
  const a = writeModel(buildStudent(cnn, 'strided', 5).model);
  const b = writeModel(buildStudent(cnn, 'strided', 5).model);
  const c = writeModel(buildStudent(cnn, 'strided', 6).model);
  t.same(a, b);
  t.not(Buffer.compare(Buffer.from(a), Buffer.from(c)), 0);
});

t.test('students of the large teacher: ≤ 1/8 of its parameters is easy to ask for', async (t) => {
  const teacher = parameterCountOf(large);
  t.equal(teacher, 1_199_882, 'the classic MNIST CNN has 1.2 M parameters');
  for (const spec of ['width:0.25', 'strided+width:0.25', 'shallow:1']) {
    const n = parameterCountOf(buildStudent(large, spec, 1).model);
    t.ok(n * 8 <= teacher, `${spec}: ${n} parameters (1/${(teacher / n).toFixed(1)})`);
  }
});

for (const [spec, pattern] of [
  ['width:0', /not a list of positive numbers/],
  ['width:0.5,0.5', /one multiplier or one per hidden layer \(3\)/],
  ['shallow:9', /more hidden layers than the model has/],
  ['strided:2', /takes no argument/],
  ['mlp:', /not a list of positive integers/],
  ['arch:c16,x3', /"x3" is not a layer/],
  ['arch:d16,c8', /must come before dense layers/],
  ['arch:c8k4', /same padding needs an odd kernel/],
  ['deep:3', /unknown transform "deep"/],
  ['', /empty/],
] as const) {
  t.test(`student "${spec}" is refused with EF_ERR_TRAIN_OPTIONS`, async (t) => {
    const err = errorOf(() => buildStudent(cnn, spec, 1));
    t.ok(isEdgefleetError(err, 'EF_ERR_TRAIN_OPTIONS'), (err as Error | undefined)?.message ?? 'no error');
    t.match((err as Error).message, pattern);
  });
}

t.test('a branching teacher gets mlp and arch students, and a clear refusal for width', async (t) => {
  const branching = buildAllOps();
  const err = errorOf(() => buildStudent(branching, 'width:0.5', 1));
  t.ok(isEdgefleetError(err, 'EF_ERR_TRAIN_UNSUPPORTED'));
  t.match((err as Error).message, /plain-chain teacher.*Give the student as arch:…, mlp:… or an ONNX file/);
  const mlp = buildStudent(branching, 'mlp:32', 1).model;
  t.same(mlp.graph.inputs[0]?.type?.kind === 'tensor' ? mlp.graph.inputs[0].type.shape : [], ['N', 3, 12, 12]);
  t.equal(mlp.graph.outputs[0]?.name, 'logits', 'the teacher ends in Softmax, so the student names its output logits');
});
