import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadModel, verifyModel } from '@edgefleet/compress/ir/index';
import { runCli } from '../helpers/run-cli.js';

// Runs the CLI several times, each training a small student (a minute or more on a busy box).
t.setTimeout(300_000);

/** `edgefleet distill` and `edgefleet finetune` in-process: help, errors, a short real run. */

const TEACHER = 'models/zoo/mnist-cnn.onnx';

t.afterEach(() => {
  process.exitCode = undefined;
});

t.test('distill --help lists the student grammar and every training flag', async (t) => {
  const r = await runCli(['distill', '--help']);
  t.equal(r.code, 0);
  for (const flag of [
    '--student',
    '--temperature',
    '--alpha',
    '--no-kd',
    '--no-labels',
    '--feature',
    '--augment',
    '--qat',
    '--qat-epochs',
    '--seed',
  ])
    t.match(r.out, flag);
  t.match(r.out.replace(/\s+/g, ' '), /width:0\.25 \| shallow:1 \| strided \| mlp:128/);
  const f = await runCli(['finetune', '--help']);
  t.match(f.out, /--teacher/);
});

for (const [args, code, pattern] of [
  [
    ['distill', TEACHER, '-o', 'x.onnx', '--student', 'width:nine'],
    'EF_ERR_TRAIN_OPTIONS',
    /not a list of positive numbers/,
  ],
  [
    ['distill', TEACHER, '-o', 'x.onnx', '--student', 'mlp:8', '--augment', 'twist:3'],
    'EF_ERR_TRAIN_OPTIONS',
    /shift:N, rotate:DEG or scale:F/,
  ],
  [
    ['distill', TEACHER, '-o', 'x.onnx', '--student', 'mlp:8', '--data', 'mnist:train:8', '--feature', 'nope'],
    'EF_ERR_TRAIN_OPTIONS',
    /STUDENT=TEACHER/,
  ],
  [['finetune', TEACHER, '-o', 'x.onnx', '--epochs', '0'], 'EF_ERR_TRAIN_OPTIONS', /trains nothing without --qat/],
  [['distill', 'models/zoo/missing.onnx', '-o', 'x.onnx', '--student', 'mlp:8'], 'EF_ERR_', /missing\.onnx/],
] as const) {
  t.test(`${args.slice(0, 1)} ${args.slice(5).join(' ')} fails with ${code}`, async (t) => {
    const r = await runCli([...args]);
    t.equal(r.code, 1);
    t.match(r.err, new RegExp(`error ${code}`));
    t.match(r.err, pattern);
  });
}

t.test('distill a small student with QAT: writes a verified int8 QDQ model and a report', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'student.onnx');
  const report = join(dir, 'report.json');
  const r = await runCli([
    'distill',
    TEACHER,
    '-o',
    out,
    '--student',
    'arch:c4s2,d16',
    '--data',
    'mnist:train:256',
    '--val',
    'mnist:calib:128',
    '--epochs',
    '1',
    '--augment',
    'shift:1',
    '--qat',
    '--qat-epochs',
    '1',
    '--report',
    report,
  ]);
  t.equal(r.code, 0, r.err);
  t.match(
    r.out,
    new RegExp(
      /student arch:c4s2,d16: 12,770 parameters \(1\/4\.1 of the teacher's 52,138\), /.source +
        /1 epoch\(s\) \+ 1 QAT epoch\(s\), 3 layer\(s\) int8/.source,
    ),
  );
  t.match(
    r.err,
    /^epoch 1\/1: loss [\d.]+, train top-1 [\d.]+%, validation top-1 [\d.]+% \([\d.]+ s\)$/m,
    'an epoch line',
  );
  t.match(r.err, /^qat epoch 1\/1: /m, 'a QAT epoch line');
  const model = loadModel(new Uint8Array(readFileSync(out)));
  t.ok(verifyModel(model).ok);
  t.ok(
    model.graph.nodes.some((n) => n.opType === 'QuantizeLinear'),
    'the output is a QDQ model',
  );
  const json = JSON.parse(readFileSync(report, 'utf8')) as {
    mode: string;
    seed: number;
    qat: { quantizedNodes: number };
  };
  t.equal(json.mode, 'distill');
  t.equal(json.qat.quantizedNodes, 3);
});

t.test('finetune with a teacher and --no-labels; a failed run writes nothing', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'tuned.onnx');
  const r = await runCli([
    'finetune',
    TEACHER,
    '-o',
    out,
    '--teacher',
    TEACHER,
    '--no-labels',
    '--data',
    'mnist:train:128',
    '--epochs',
    '1',
    '--json',
  ]);
  t.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out) as { mode: string; studentParams: number; teacherParams: number };
  t.equal(rep.mode, 'distill');
  t.equal(rep.studentParams, rep.teacherParams, 'self-distillation of the same model');
  t.ok(existsSync(out));
  const bad = join(dir, 'never.onnx');
  const f = await runCli(['finetune', TEACHER, '-o', bad, '--no-labels', '--data', 'mnist:train:64']);
  t.equal(f.code, 1);
  t.match(f.err, /EF_ERR_TRAIN_DATA.*needs a teacher/);
  t.notOk(existsSync(bad), 'nothing written');
});
