/**
 * The search engine without models: NSGA-II's pieces on hand-checked examples, the loop on a
 * discrete ZDT1 problem (its Pareto set is known: every gene but the first at 0), hard
 * constraints, budgets of evaluations and of time, seeded reproducibility, and resuming a crashed
 * search from its candidate file without evaluating anything twice.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EdgefleetError } from '@edgefleet/shared';
import { createRng } from '@edgefleet/compress/data/prng';
import { openCandidateStore, type SearchHeader } from '@edgefleet/compress/search/candidate-store';
import { paretoFront, runSearch, type Evaluator, type Gene } from '@edgefleet/compress/search/engine';
import {
  constrainedDominates,
  crowdingDistance,
  dominates,
  nonDominatedSort,
  offspring,
  selectSurvivors,
} from '@edgefleet/compress/search/nsga2';

const s = (objectives: number[], violation = 0) => ({ objectives, violation });

t.test('dominance, constrained dominance, fronts and crowding', async (t) => {
  t.ok(dominates([1, 2], [2, 2]));
  t.notOk(dominates([1, 2], [1, 2]), 'equal is not better');
  t.notOk(dominates([1, 3], [2, 2]));
  t.ok(constrainedDominates(s([9, 9]), s([0, 0], 0.1)), 'feasible beats infeasible');
  t.ok(constrainedDominates(s([9, 9], 0.1), s([0, 0], 0.2)), 'less violation wins');
  t.notOk(constrainedDominates(s([0, 0], 0.2), s([9, 9])));
  const items = [s([1, 5]), s([2, 3]), s([4, 1]), s([3, 4]), s([5, 5]), s([0, 0], 1)];
  t.same(nonDominatedSort(items), [[0, 1, 2], [3], [4], [5]]);
  const cd = crowdingDistance(items, [0, 1, 2]);
  t.equal(cd.get(0), Infinity);
  t.equal(cd.get(2), Infinity);
  t.equal(cd.get(1), (4 - 1) / 3 + (5 - 1) / 4, 'sum of normalised neighbour gaps');
  t.same(selectSurvivors(items, 4).sort(), [0, 1, 2, 3]);
  t.same(selectSurvivors([s([1, 5]), s([2, 4]), s([3, 3]), s([5, 1])], 3).sort(), [0, 2, 3], 'keeps the spread');
});

t.test('offspring mixes parents and mutates to a different value', async (t) => {
  const rng = createRng(3);
  const child = offspring([0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], rng, 0);
  t.ok(child.every((g) => g === 0 || g === 1));
  const mutated = offspring([2, 2], [2, 2], [5, 5], createRng(4), 1);
  t.ok(
    mutated.every((g) => g !== 2 && g >= 0 && g < 5),
    'mutation always changes the gene',
  );
});

// Discrete ZDT1: x0 ∈ 0..15 sets f1; the other genes raise g (g = 1 only when they are all 0).
const genes: Gene[] = Array.from({ length: 6 }, (_, i) => ({ name: `x${i}`, cardinality: 16 }));
const zdt1 = (x: readonly number[]) => {
  const f1 = (x[0] as number) / 15;
  const g = 1 + (9 * x.slice(1).reduce((a, b) => a + b, 0)) / (15 * (x.length - 1));
  return [f1, g * (1 - Math.sqrt(f1 / g))];
};
const evaluator =
  (calls: string[] = [], crashAt = Infinity): Evaluator =>
  async (genome, key) => {
    if (calls.length >= crashAt) throw new Error('simulated crash');
    calls.push(key);
    return { ok: true, objectives: zdt1(genome), violation: 0, metrics: { g: zdt1(genome)[1] } };
  };

t.test('NSGA-II reaches the Pareto set of discrete ZDT1 within 400 evaluations, reproducibly', async (t) => {
  const a = await runSearch(genes, evaluator(), { seed: 11, maxEvaluations: 400, population: 20 });
  t.equal(a.candidates.length, 400);
  t.equal(a.stopped, 'evaluations');
  const optimal = a.front.filter((r) => r.genome.slice(1).every((g) => g === 0));
  t.ok(optimal.length >= 3, `${optimal.length} Pareto-optimal candidates on the front`);
  // The same budget of uniform random samples: five genes at 0 has probability 16^-5 per sample.
  const rng = createRng(11);
  const random = Array.from({ length: 400 }, () => genes.map((g) => rng.int(g.cardinality)));
  t.equal(random.filter((x) => x.slice(1).every((g) => g === 0)).length, 0, 'random sampling finds none');
  const b = await runSearch(genes, evaluator(), { seed: 11, maxEvaluations: 400, population: 20 });
  t.same(
    b.candidates.map((r) => r.key),
    a.candidates.map((r) => r.key),
    'same seed, same candidates',
  );
  const c = await runSearch(genes, evaluator(), { seed: 12, maxEvaluations: 50, population: 20 });
  t.not(c.candidates[0]?.key, a.candidates[0]?.key, 'another seed, another search');
});

t.test('hard constraints: infeasible candidates never reach the front', async (t) => {
  const constrained: Evaluator = async (genome) => {
    const [f1, f2] = zdt1(genome);
    return {
      ok: true,
      objectives: [f1 as number, f2 as number],
      violation: Math.max(0, 0.3 - (f1 as number)),
      metrics: {},
    };
  };
  const r = await runSearch(genes, constrained, { seed: 5, maxEvaluations: 120 });
  t.ok(r.front.length > 0);
  t.ok(r.front.every((c) => (c.objectives[0] as number) >= 0.3));
  const screening: Evaluator = async (genome) => {
    const [f1, f2] = zdt1(genome);
    const violation = Math.max(0, 0.3 - (f1 as number));
    return { ok: true, objectives: [f1 as number, f2 as number], violation, metrics: {}, screened: violation > 0 };
  };
  const sc = await runSearch(genes, screening, { seed: 5, maxEvaluations: 40 });
  const screened = sc.candidates.filter((c) => c.screened).length;
  t.ok(screened > 0, `${screened} candidates screened out by prediction`);
  t.equal(sc.evaluations, 40, 'screened candidates do not use up the evaluation budget');
  t.equal(sc.candidates.length, 40 + screened);
  const failing: Evaluator = async (genome) =>
    genome[0] === 0
      ? { ok: false, reason: 'cannot build' }
      : { ok: true, objectives: zdt1(genome), violation: 0, metrics: {} };
  const f = await runSearch(genes, failing, { seed: 5, maxEvaluations: 60, initial: [[0, 0, 0, 0, 0, 0]] });
  t.equal(f.candidates[0]?.failed, 'cannot build', 'a failed candidate is recorded with its reason');
  t.notOk(f.front.some((c) => c.failed));
});

t.test('the time budget stops new evaluations; seeds go first; a tiny space is exhausted', async (t) => {
  let clock = 0;
  const slow: Evaluator = async (g, k) => {
    clock += 1000;
    return evaluator()(g, k);
  };
  const r = await runSearch(genes, slow, { seed: 1, maxEvaluations: 100, timeBudgetMs: 5_000, now: () => clock });
  t.equal(r.stopped, 'time');
  t.equal(r.candidates.length, 5);
  const seeded = await runSearch(genes, evaluator(), { seed: 1, maxEvaluations: 3, initial: [[15, 0, 0, 0, 0, 0]] });
  t.same(seeded.candidates[0]?.genome, [15, 0, 0, 0, 0, 0]);
  const tiny = await runSearch(
    [{ name: 'only', cardinality: 3 }],
    async (g) => ({ ok: true, objectives: [g[0] as number], violation: 0, metrics: {} }),
    {
      seed: 1,
      maxEvaluations: 50,
      population: 4,
    },
  );
  t.equal(tiny.stopped, 'exhausted');
  t.equal(tiny.candidates.length, 3);
  t.same(
    paretoFront(tiny.candidates).map((c) => c.genome),
    [[0]],
  );
});

const header: SearchHeader = { type: 'search', v: 1, seed: 11, space: 'zdt1-6x16', objectives: ['f1', 'f2'] };

t.test('a crashed search resumes from its candidate file and ends where an uninterrupted one does', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'candidates.jsonl');
  const settings = { seed: 11, maxEvaluations: 80, population: 10 };
  const calls: string[] = [];
  await t.rejects(
    runSearch(genes, evaluator(calls, 30), { ...settings, store: openCandidateStore(path, header) }),
    /simulated crash/,
  );
  t.equal(readFileSync(path, 'utf8').trim().split('\n').length, 31, 'header + the 30 evaluated candidates');
  appendFileSync(path, '{"type":"candidate","key":"1.2'); // the crash cut a line short
  const store = openCandidateStore(path, header);
  t.equal(store.dropped, 1);
  t.equal(store.previous.size, 30);
  const resumedCalls: string[] = [];
  const resumed = await runSearch(genes, evaluator(resumedCalls), { ...settings, store });
  t.equal(resumed.replayed, 30);
  t.equal(resumedCalls.length, 50, 'only the missing 50 are evaluated');
  t.notOk(
    resumedCalls.some((k) => calls.includes(k)),
    'nothing is evaluated twice',
  );
  const straight = await runSearch(genes, evaluator(), settings);
  t.same(
    resumed.candidates.map((r) => r.key),
    straight.candidates.map((r) => r.key),
  );
  t.same(
    resumed.front.map((r) => r.key),
    straight.front.map((r) => r.key),
  );
});

t.test('a candidate file of another search, or a damaged one, is refused with the reason', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'c.jsonl');
  openCandidateStore(path, header);
  const other = () => openCandidateStore(path, { ...header, seed: 12 });
  t.throws(other, EdgefleetError);
  t.throws(other, { code: 'EF_ERR_SEARCH_STORE', message: /different search \(seed 11/ });
  writeFileSync(path, `${JSON.stringify(header)}\nnot json\n{}\n`);
  t.throws(() => openCandidateStore(path, header), { message: /line 2 is not a candidate record/ });
  writeFileSync(path, 'garbage\n');
  t.throws(() => openCandidateStore(path, header), { message: /first line is not a search header/ });
});
