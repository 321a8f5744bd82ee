/**
 * The search orchestration on the committed mnist-cnn teacher and a real class profile:
 * candidates predicted to break the class's latency or size budget are screened out before
 * anything is built, the rest are built and scored on their real graphs, the finalist is the most
 * accurate feasible member of the front, rebuilt at the `final` stage, and a second run over the
 * same candidate file replays instead of building again. The builder here is a stand-in for
 * training (it builds the candidate's graph with seeded weights and reports a top-1 that falls
 * with the parameters removed), so this test checks the orchestration, not model quality;
 * test/integration/search-*.test.ts build real candidates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { builtinProfiles } from '@edgefleet/shared';
import { loadModel } from '@edgefleet/compress/ir/index';
import { buildNet, createLatencyPredictor, type LatencyTable } from '@edgefleet/compress/search/latency/index';
import { searchModel, type CandidateBuilder } from '@edgefleet/compress/search/search-model';
import { predictSizeBytes, type ClassTarget } from '@edgefleet/compress/search/score';
import { frontSvg } from '@edgefleet/compress/search/front-svg';

const teacher = loadModel(readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url)));
const table: LatencyTable = {
  v: 1,
  source: 'measured',
  host: { cpu: 'test', cores: 1, runtime: 'test', threads: 1 },
  measuredAt: '2026-12-01T00:00:00.000Z',
  callMs: 0.007,
  coefficients: {
    'conv/fp32': { perUnitMs: 0.004, perMMacMs: 0.08, perMElementMs: 0 },
    'dense/fp32': { perUnitMs: 0.002, perMMacMs: 0.08, perMElementMs: 0 },
    'pool/fp32': { perUnitMs: 0.002, perMMacMs: 0, perMElementMs: 0.5 },
    'layout/fp32': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 0 },
    'elementwise/fp32': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 0.5 },
  },
  fitMape: 0,
  samples: [],
};
const rpi = builtinProfiles().get('rpi4');
if (!rpi) throw new Error('rpi4 profile');
const teacherParams = 8 * 9 + 8 + 16 * 8 * 9 + 16 + 784 * 64 + 64 + 64 * 10 + 10;

function classWith(budgets: ClassTarget['budgets']): ClassTarget {
  return {
    name: 'rpi4-tight',
    precisions: ['fp32'],
    speed: { factors: rpi?.speedModel.factors ?? {} },
    power: rpi?.powerModel ?? { idleW: 0, activeW: {}, workloadHz: 1 },
    budgets,
  };
}

function standInBuilder(calls: string[]): CandidateBuilder {
  return {
    async build(c, stage) {
      calls.push(stage);
      const params = predictSizeBytes(c).params;
      // A stand-in for training: three points lost if every parameter were removed.
      return {
        model: buildNet(c.net),
        accuracyPct: 98 - 3 * (1 - params / teacherParams),
        notes: [`stand-in ${stage}`],
      };
    },
  };
}

t.test('screened before built, scored on the real graph, finalist rebuilt; a second run replays', async (t) => {
  const predictor = createLatencyPredictor(table);
  const teacherMs = predictor.device(teacher, 1, { factors: rpi.speedModel.factors }) ?? 0;
  const cls = classWith({ maxP95LatencyMs: teacherMs / 2, maxAccuracyDropPts: 2.95 });
  const calls: string[] = [];
  const storePath = join(t.testdir(), 'candidates.jsonl');
  const opts = {
    teacher,
    teacherAccuracyPct: 98,
    cls,
    predictor,
    seed: 3,
    maxEvaluations: 16,
    population: 8,
    storePath,
  };
  const r = await searchModel({ ...opts, builder: standInBuilder(calls) });
  const screened = r.search.candidates.filter((c) => c.screened);
  t.ok(screened.length > 0, `${screened.length} screened by predicted latency`);
  t.ok(screened.every((c) => (c.metrics.broken as string[]).includes('maxP95LatencyMs')));
  t.equal(calls.filter((s) => s === 'search').length, r.search.evaluations, 'only unscreened candidates are built');
  t.equal(r.search.evaluations, 16);
  t.ok(r.search.front.length > 0);
  for (const f of r.search.front) {
    t.equal(f.violation, 0);
    t.ok((f.metrics.deviceP95Ms as number) <= teacherMs / 2);
  }
  const fin = r.finalist;
  if (!fin) throw new Error('no finalist');
  t.equal(fin.violation, 0);
  const best = Math.max(...r.search.front.map((f) => f.metrics.accuracyPct as number));
  t.equal(fin.record.metrics.accuracyPct, best, 'the most accurate feasible candidate');
  t.same(fin.notes, ['stand-in final']);
  t.equal(calls.at(-1), 'final');

  const svg = frontSvg({
    title: 'mnist-cnn <rpi4>',
    candidates: r.search.candidates,
    front: r.search.front,
    references: [{ label: 'teacher', latencyMs: teacherMs, accuracyPct: 98 }],
    finalist: { label: 'finalist', latencyMs: fin.deviceP95Ms ?? 0, accuracyPct: fin.accuracyPct },
  });
  t.match(svg, /^<svg [^>]+>/);
  t.match(svg, 'mnist-cnn &lt;rpi4&gt;', 'text is escaped');
  t.equal(svg.match(/<circle [^>]*r="3"/g)?.length, r.search.evaluations, 'one dot per built candidate');
  t.match(svg, /<polyline [^>]*points="[^"]+"/, 'the front as a line');
  t.match(svg, />teacher</);

  const again: string[] = [];
  const replay = await searchModel({ ...opts, builder: standInBuilder(again) });
  t.equal(replay.search.replayed, replay.search.candidates.length, 'every candidate comes from the file');
  t.same(again, ['final'], 'nothing is built again but the finalist');
  t.same(
    replay.search.front.map((f) => f.key),
    r.search.front.map((f) => f.key),
  );
  await t.rejects(searchModel({ ...opts, seed: 4, builder: standInBuilder([]) }), { code: 'EF_ERR_SEARCH_STORE' });
});

t.test('a graph that is not a plain chain is refused with the reason', async (t) => {
  const g = buildNet({
    name: 'g',
    input: [4, 7, 7],
    layers: [{ kind: 'globalpool' }, { kind: 'flatten' }, { kind: 'dense', units: 3 }],
  });
  await t.rejects(
    searchModel({
      teacher: g,
      teacherAccuracyPct: 90,
      cls: classWith({}),
      predictor: createLatencyPredictor(table),
      builder: standInBuilder([]),
      seed: 1,
      maxEvaluations: 2,
    }),
    { code: 'EF_ERR_SEARCH_OPTIONS', message: /plain-chain teacher/ },
  );
});

t.test('top-1 is a proxy while searching; the floor judges finalists, tried one family at a time', async (t) => {
  const predictor = createLatencyPredictor(table);
  const teacherMs = predictor.device(teacher, 1, { factors: rpi.speedModel.factors }) ?? 0;
  const cls = classWith({ maxP95LatencyMs: teacherMs / 1.5, maxAccuracyDropPts: 1 });
  const finals: string[] = [];
  // Every candidate's proxy is below the 97% floor; fully trained, pruned teachers reach 96.5 and students 97.5.
  const builder: CandidateBuilder = {
    async build(c, stage) {
      if (stage === 'final') finals.push(c.family);
      const full = c.family === 'student' ? 97.5 : 96.5;
      const proxy = (c.family === 'student' ? 80 : 95) - predictSizeBytes(c).params / 1e5;
      return { model: buildNet(c.net), accuracyPct: stage === 'final' ? full : proxy, notes: [] };
    },
  };
  const r = await searchModel({
    teacher,
    teacherAccuracyPct: 98,
    cls,
    predictor,
    builder,
    seed: 5,
    maxEvaluations: 24,
    population: 8,
  });
  t.ok(r.search.front.length > 0, 'candidates under the floor still make a front');
  t.ok(new Set(r.search.front.map((f) => f.metrics.family)).size === 2, 'both families on the front');
  t.same(finals.slice(0, 2), ['pruned', 'student'], 'the best of each family in turn');
  t.equal(r.finalist?.candidate.family, 'student', 'the first finalist that meets the floor');
  t.equal(r.finalist?.violation, 0);
  t.equal(r.finalists.length, 2);
  t.ok(r.finalists[0]?.broken.includes('accuracy'), 'the pruned finalist broke the floor');
});

t.test('hypervolume: a staircase of the points above the floor and under the ceiling', async (t) => {
  const { hypervolume } = await import('@edgefleet/compress/search/compare');
  t.equal(hypervolume([], 90, 10), 0);
  t.equal(hypervolume([{ accuracyPct: 95, latencyMs: 5 }], 90, 10), 25);
  // A dominated point adds nothing; a faster, less accurate one adds its strip.
  t.equal(
    hypervolume(
      [
        { accuracyPct: 95, latencyMs: 5 },
        { accuracyPct: 94, latencyMs: 6 },
        { accuracyPct: 92, latencyMs: 2 },
      ],
      90,
      10,
    ),
    2 * 8 + 3 * 5,
  );
  t.equal(
    hypervolume(
      [
        { accuracyPct: 89, latencyMs: 1 },
        { accuracyPct: 99, latencyMs: 11 },
      ],
      90,
      10,
    ),
    0,
  );
});
