/**
 * `edgefleet search` end to end on the committed mnist-cnn teacher, with real candidates (pruned
 * with reconstruction or distilled students, a short distillation, per-layer quantization) on a
 * small budget: two candidates of one epoch on 500 images, the finalist one epoch on the whole
 * train split. Budgets are loose (the teacher's size, 5 points) so the run ends with a finalist;
 * the quality goals are asserted elsewhere on committed search results. Then the same command
 * resumes from its candidate file without building anything but the finalist, and bad options are
 * refused with what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadOrMeasureLatencyTable } from '@edgefleet/compress/search/latency/index';
import { runCli } from '../helpers/run-cli.js';

t.setTimeout(600_000);
const teacher = new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url).pathname;

t.test('search finds, writes and resumes', async (t) => {
  const dir = t.testdir();
  const table = join(dir, 'latency-table.json');
  await loadOrMeasureLatencyTable(table, { quick: true, rounds: 2, runsPerRound: 5 });
  const args = [
    'search',
    teacher,
    '--class',
    'rpi4',
    '--evals',
    '2',
    '--epochs',
    '1',
    '--train-samples',
    '500',
    '--final-epochs',
    '1',
    // A hard bound far from this run's length: the search ends by its evaluations, not by time.
    '--time',
    '20m',
    '--batch',
    '32',
    '--budget',
    'maxModelBytes=210000',
    '--budget',
    'maxP95LatencyMs=1000',
    '--budget',
    'maxAccuracyDropPts=5',
    '--latency-table',
    table,
    '--out-dir',
    join(dir, 'run'),
    '-o',
    join(dir, 'final.onnx'),
    '--svg',
    join(dir, 'front.svg'),
    '--json',
  ];
  const first = await runCli(args);
  t.equal(first.code, 0, first.err);
  const r = JSON.parse(first.out);
  t.equal(r.evaluations, 2);
  t.equal(r.timedOut, false, 'within --time');
  t.equal(r.class, 'rpi4');
  t.ok(r.front.length >= 1);
  t.ok(r.finalist, 'a finalist within the loose budgets');
  t.same(r.finalist.broken, []);
  t.equal(r.finalist.cut, null, 'the finalist trained in full');
  t.equal(readFileSync(join(dir, 'final.onnx')).length, r.finalist.bytes, '-o writes the finalist');
  t.ok(r.finalist.testTop1Pct > 90, `finalist test top-1 ${r.finalist.testTop1Pct}%`);
  t.match(readFileSync(join(dir, 'front.svg'), 'utf8'), /<svg/);
  const lines = readFileSync(join(dir, 'run', 'candidates.jsonl'), 'utf8')
    .trim()
    .split('\n');
  t.equal(lines.length, 1 + r.visited, 'header + every visited candidate');

  const again = await runCli(args);
  t.equal(again.code, 0, again.err);
  const r2 = JSON.parse(again.out);
  t.same(
    r2.front.map((f: { key: string }) => f.key),
    r.front.map((f: { key: string }) => f.key),
    'the resumed search replays the same candidates',
  );
  t.equal(
    readFileSync(join(dir, 'run', 'candidates.jsonl'), 'utf8')
      .trim()
      .split('\n').length,
    lines.length,
    'nothing new evaluated',
  );
});

t.test('bad options are refused with what to do', async (t) => {
  const unknown = await runCli(['search', teacher, '--class', 'toaster']);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /EF_ERR_SEARCH_OPTIONS.*no built-in class "toaster"; use one of mcu-gateway/s);
  const budget = await runCli(['search', teacher, '--class', 'rpi4', '--budget', 'speed=fast']);
  t.equal(budget.code, 2);
  t.match(budget.err, /KEY=NUMBER/);
  t.notOk(existsSync(join(t.testdir(), 'run')));
});
