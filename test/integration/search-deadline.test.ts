/**
 * A search's time budget bounds the whole search (issue 16), at training-step granularity, with
 * the real builder on mnist-cnn (a pruned teacher refit by least squares, then distilled) and a
 * virtual clock that moves one second per training step, so where the deadline lands is exact:
 *
 * 1. mid-finalist: the finalist's distillation stops at the step the budget runs out; the model as
 *    trained so far is the finalist, labelled `cut`, and judged on its real top-1 like any other.
 * 2. mid-candidate: a candidate whose search-stage training the budget cuts (at the search's share
 *    of it) is not recorded (its proxy would be partial; a resumed search builds it again), and the
 *    search stops by time with no finalist.
 *
 * No wall-clock assertions: the clock is the test's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { builtinProfiles } from '@edgefleet/shared';
import { loadDataSource, modelInputsOf } from '@edgefleet/compress';
import { sliceDataset } from '@edgefleet/compress/data/tensor';
import { loadModel } from '@edgefleet/compress/ir/index';
import { createCandidateBuilder, top1Pct } from '@edgefleet/compress/search/builder';
import { createLatencyPredictor, type LatencyTable } from '@edgefleet/compress/search/latency/index';
import type { ClassTarget } from '@edgefleet/compress/search/score';
import { searchModel } from '@edgefleet/compress/search/search-model';
import { createRequire } from 'node:module';

t.setTimeout(240_000);
const table = createRequire(import.meta.url)('../fixtures/latency-table-dev-host.json') as LatencyTable;
const teacher = loadModel(readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url)));
const inputs = modelInputsOf(teacher);
// 256 training samples: 4 steps of 64 per epoch.
const train = loadDataSource('mnist:train:256', inputs);
const calib = sliceDataset(loadDataSource('mnist:calib', inputs), 0, 256);
const rpi4 = builtinProfiles().get('rpi4');
if (!rpi4) throw new Error('rpi4 profile');
const cls: ClassTarget = {
  name: 'rpi4-fp32',
  precisions: ['fp32'],
  speed: { factors: rpi4.speedModel.factors },
  power: rpi4.powerModel,
  budgets: { maxAccuracyDropPts: 1.0 },
};

/** A clock that moves one second per training step of the given stage. */
function steppingClock(stage: 'search' | 'final') {
  const clock = { ms: 0, steps: 0 };
  const onTrain = (p: { stage: string; step?: number }) => {
    if (p.stage !== stage || p.step === undefined) return;
    clock.steps++;
    clock.ms += 1000;
  };
  return { clock, onTrain, now: () => clock.ms };
}

t.test('a deadline mid-finalist: the finalist is the model as trained so far, labelled, judged', async (t) => {
  const teacherPct = await top1Pct(teacher, calib);
  const c = steppingClock('final');
  const builder = createCandidateBuilder({
    teacher,
    train,
    calib,
    validation: calib,
    seed: 1,
    searchEpochs: 0,
    finalEpochs: 3,
    onTrain: c.onTrain,
  });
  const r = await searchModel({
    teacher,
    teacherAccuracyPct: teacherPct,
    cls,
    predictor: createLatencyPredictor(table),
    builder,
    seed: 1,
    maxEvaluations: 1,
    population: 2,
    maxFinalists: 2,
    // Finalists may train until 6 s: 6 of their 12 steps.
    timeBudgetMs: 6_000,
    now: c.now,
  });
  t.equal(r.search.evaluations, 1, 'the candidate phase ran to its evaluation budget (it took no clock time)');
  const fin = r.finalist;
  if (!fin) throw new Error('no finalist');
  t.equal(c.clock.steps, 6, 'the finalist trained 6 of 12 steps, then stopped at the deadline');
  t.match(fin.cut, /after 6 step\(s\) \(1 of 3 epoch\(s\) complete\)/, 'the finalist says its training was cut');
  t.ok(
    fin.notes.some((n) => n.includes('training cut by the time limit')),
    'and its notes say so',
  );
  t.equal(r.finalists.length, 1, 'no second finalist is tried after the deadline');
  t.ok(r.timedOut, 'the result says the time budget ran out');
  const real = await top1Pct(fin.model, calib);
  t.equal(fin.accuracyPct, real, `judged on its real top-1 (${real.toFixed(2)}%)`);
  t.equal(
    fin.broken.includes('accuracy'),
    teacherPct - real > 1.0,
    `the accuracy floor applies to it as to any finalist (teacher ${teacherPct.toFixed(2)}%)`,
  );
});

t.test('a deadline mid-candidate: the cut candidate is not recorded, the search stops by time', async (t) => {
  const c = steppingClock('search');
  const builder = createCandidateBuilder({
    teacher,
    train,
    calib,
    validation: calib,
    seed: 1,
    searchEpochs: 2,
    finalEpochs: 0,
    onTrain: c.onTrain,
  });
  const storePath = join(t.testdir(), 'candidates.jsonl');
  const r = await searchModel({
    teacher,
    teacherAccuracyPct: await top1Pct(teacher, calib),
    cls,
    predictor: createLatencyPredictor(table),
    builder,
    seed: 1,
    maxEvaluations: 4,
    population: 2,
    // Candidates may train until half of it: 3 s, 3 of the first candidate's 8 steps.
    timeBudgetMs: 6_000,
    storePath,
    now: c.now,
  });
  t.equal(c.clock.steps, 3, 'the first candidate trained 3 steps, then stopped at the search share');
  t.equal(r.search.stopped, 'time', 'the search stopped by time');
  t.equal(r.search.evaluations, 0, 'the cut candidate does not count');
  t.equal(r.search.candidates.length, 0, 'nor is it a candidate of the result');
  t.equal(r.finalist, undefined, 'no finalist: nothing was scored');
  t.ok(r.timedOut, 'the result says the time budget ran out');
  const lines = readFileSync(storePath, 'utf8').trim().split('\n');
  t.equal(lines.length, 1, 'the candidate file holds its header only: a resumed search builds the candidate again');
});
