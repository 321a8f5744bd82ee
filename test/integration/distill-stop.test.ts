import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cliSnippet, spawnSnippet } from '../helpers/spawn-ts.js';

/** Ctrl-C during `edgefleet distill` stops after the current step, exits non-zero and writes nothing. */
t.test('SIGINT stops a distillation cleanly', async (t) => {
  const out = join(t.testdir(), 'student.onnx');
  const child = spawnSnippet(
    cliSnippet([
      'distill',
      'models/zoo/mnist-cnn.onnx',
      '-o',
      out,
      '--student',
      'arch:c4s2,d16',
      '--data',
      'mnist:train:1024',
      '--val',
      'mnist:calib:64',
      '--epochs',
      '200',
      '--batch',
      '32',
    ]),
  );
  t.teardown(() => {
    child.proc.kill('SIGKILL');
  });
  await child.waitForOutput(/^epoch 1\/200: /m, 90_000);
  child.proc.kill('SIGINT');
  const code = await child.exited;
  t.equal(code, 1, 'exit code 1');
  t.match(child.output(), /stopping after this step/);
  t.match(
    child.output(),
    new RegExp(
      /error EF_ERR_TRAIN_STOPPED: training was stopped during the float phase /.source +
        /after \d+ complete epoch\(s\); nothing was written/.source,
    ),
  );
  t.notOk(existsSync(out), 'no model written');
});
