/**
 * The pure decide(): table-driven cases over hand-built snapshots — hysteresis, cooldown,
 * hourly cap, episode cap, failed-variant memory, the corrected speed model choosing a
 * different front member, accuracy breaches moving up in precision, re-plan, nothing fits.
 */
import t from 'tap';
import {
  decide,
  EMPTY_MEMORY,
  parseControlPolicy,
  type ClassSnapshot,
  type ControlMemory,
  type ControlPolicyInput,
  type DeviceObservation,
  type PlanMember,
  type PlanView,
} from '@edgefleet/server/control/index';
import { misfits } from '@edgefleet/server/control/select';
import { checkBudgets } from '@edgefleet/server/plan/select';

const sha = (c: string): string => c.repeat(64);
const member = (
  recipe: string,
  precision: PlanMember['precision'],
  shaChar: string,
  p95: number,
  acc: number,
  bytes = 100_000,
): PlanMember => ({
  recipe,
  precision,
  artifactSha: sha(shaChar),
  bytes,
  accuracyPct: acc,
  predictedP95Ms: p95,
  predictedPowerW: 2,
  predictedEnergyMj: p95 * 2,
  peakMemoryBytes: null,
  onFront: true,
});
// fp32 slowest and most accurate; int8 variants faster and a bit less accurate.
const FP32 = member('baseline', 'fp32', 'a', 8, 97.6);
const FP16 = member('fp16', 'fp16', 'b', 6, 97.5);
const INT8S = member('int8-static', 'int8', 'c', 4, 97.2);
const INT8W = member('int8-weights', 'int8', 'd', 3, 96.0);
const PLAN: PlanView = {
  planId: 1,
  modelSha: sha('f'),
  recipes: ['baseline', 'fp16', 'int8-static', 'int8-weights'],
  corrected: false,
  correction: 1,
  baselinePct: 97.6,
  members: [FP32, FP16, INT8S, INT8W],
};

const dev = (
  i: number,
  variant: PlanMember,
  p95: number,
  extra: Partial<DeviceObservation> = {},
): DeviceObservation => ({
  deviceId: `d-${i}`,
  variantSha: variant.artifactSha,
  breaches: [],
  throttled: false,
  p95Ms: p95,
  powerW: 2,
  energyMj: 1,
  accuracy: 0.97,
  ...extra,
});
const fleet = (
  n: number,
  breaching: number,
  variant: PlanMember,
  p95: number,
  extra: Partial<DeviceObservation> = {},
): DeviceObservation[] =>
  Array.from({ length: n }, (_, i) =>
    i < breaching
      ? dev(i, variant, p95, { breaches: ['latencyP95Ms'], ...extra })
      : dev(i, variant, variant.predictedP95Ms),
  );

const snap = (
  devices: DeviceObservation[],
  memory: Partial<ControlMemory> = {},
  over: Partial<ClassSnapshot> = {},
): ClassSnapshot => ({
  deviceClass: 'edge',
  at: 100_000,
  budgets: { maxP95LatencyMs: 10, minAccuracyPct: 95 },
  limits: { memoryBytes: 1e9, storageBytes: 1e9 },
  plan: PLAN,
  rolloutActive: false,
  devices,
  memory: { ...EMPTY_MEMORY, ...memory },
  ...over,
});
const confirmed = { breachingSince: 0 };
const policy = (p: ControlPolicyInput = {}) => parseControlPolicy({ hysteresisMs: 30_000, cooldownMs: 300_000, ...p });

interface Case {
  name: string;
  s: ClassSnapshot;
  p?: ControlPolicyInput;
  kind: string;
  target?: PlanMember;
  actions?: string[];
  reason?: RegExp;
}
const cases: Case[] = [
  {
    name: 'healthy class: nothing to do, nothing stored',
    s: snap(fleet(10, 0, FP32, 8)),
    kind: 'healthy',
    actions: [],
  },
  { name: 'breach below the class fraction is no class breach', s: snap(fleet(10, 4, FP32, 14)), kind: 'healthy' },
  {
    name: 'new breach waits out the hysteresis window',
    s: snap(fleet(10, 8, FP32, 14)),
    kind: 'watching',
    actions: [],
    reason: /acting after 30000 ms/,
  },
  { name: 'hysteresis 0 acts at once', s: snap(fleet(10, 8, FP32, 14)), p: { hysteresisMs: 0 }, kind: 'deploy' },
  // measured 14 vs predicted 8 → ratio 1.75: fp16 (6×1.75=10.5) misses 10×0.9, int8-static (7) fits.
  {
    name: 'corrected speed model picks a faster front member than the modelled one would',
    s: snap(fleet(10, 8, FP32, 14), confirmed),
    kind: 'deploy',
    target: INT8S,
    reason: /1\.75/,
  },
  // a milder ratio (11/8=1.375): fp16 at 8.25 fits, and it is the most accurate that does.
  {
    name: 'milder correction keeps the more accurate fp16',
    s: snap(fleet(10, 8, FP32, 11), confirmed),
    kind: 'deploy',
    target: FP16,
  },
  {
    name: 'a rollout in progress: wait',
    s: snap(fleet(10, 8, FP32, 14), confirmed, { rolloutActive: true }),
    kind: 'waiting',
    actions: [],
  },
  {
    name: 'cooldown after a re-deploy: hold with one alert',
    s: snap(fleet(10, 8, FP32, 14), { ...confirmed, deploys: [90_000] }),
    kind: 'alert',
    actions: ['alert'],
    reason: /cooldown/,
  },
  {
    name: 'hourly cap reached',
    s: snap(fleet(10, 8, FP32, 14), { ...confirmed, deploys: [1000, 2000, 3000] }),
    p: { cooldownMs: 0 },
    kind: 'alert',
    reason: /cap of 3 re-deploys/,
  },
  {
    name: 'episode cap: a second change in one episode is refused',
    s: snap(fleet(10, 8, FP32, 14), {
      ...confirmed,
      episode: { id: 'ep', startedAt: 0, changes: 1, replanned: false, alerted: true },
    }),
    kind: 'hold',
    actions: [],
    reason: /already changed variant/,
  },
  {
    name: 'failed variant is not retried',
    s: snap(fleet(10, 8, FP32, 14), { ...confirmed, failed: { [INT8S.artifactSha]: 90_000 } }),
    kind: 'deploy',
    target: INT8W,
  },
  {
    name: 'failed variant memory expires',
    s: snap(fleet(10, 8, FP32, 14), { ...confirmed, failed: { [INT8S.artifactSha]: 1 } }),
    p: { failedRetryMs: 50_000 },
    kind: 'deploy',
    target: INT8S,
  },
  {
    name: 'nothing on the front fits: re-plan with the corrected model',
    s: snap(fleet(10, 8, FP32, 40), confirmed),
    kind: 'replan',
    actions: ['replan'],
  },
  {
    name: 'nothing fits even after a re-plan, searches switched off: keep the best, alert',
    s: snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true } }),
    p: { search: { enabled: false } },
    kind: 'alert',
    actions: ['alert'],
    reason: /nothing fits/,
  },
  {
    name: 'nothing stored fits after a re-plan, searches enabled: search for a new model',
    s: snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true } }),
    p: { search: { enabled: true, timeBudgetMs: 120_000, maxEvaluations: 12 } },
    kind: 'search',
    actions: ['search'],
    reason: new RegExp(
      /no stored variant is predicted to fit, even with the corrected speed model /.source +
        /\(measured\/predicted latency 5\.00\): searching for a new model \(at most 12 candidates, 120 s\)/.source,
    ),
  },
  {
    name: 'a search already ran this episode and still nothing fits: alert',
    s: snap(
      fleet(10, 8, FP32, 40),
      {
        ...confirmed,
        episode: { id: 'ep', startedAt: 0, changes: 0, replanned: true, searched: true, alerted: false },
      },
      { plan: { ...PLAN, corrected: true } },
    ),
    p: { search: { enabled: true } },
    kind: 'alert',
    actions: ['alert'],
  },
  {
    name: 'best effort, before any re-plan: the re-plan comes first',
    s: snap(fleet(10, 8, FP32, 40), confirmed),
    p: { bestEffort: true },
    kind: 'replan',
  },
  // ratio 5: int8-weights (3 × 5 = 15) still misses 10 × 0.9, but it is the fastest stored variant and meets accuracy.
  {
    name: 'best effort after a re-plan, searches switched off: the fastest stored variant, said so',
    s: snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true } }),
    p: { bestEffort: true, search: { enabled: false } },
    kind: 'deploy',
    target: INT8W,
    reason: new RegExp(
      /nothing is predicted to fit \(measured\/predicted latency 5\.00\); best effort: int8-weights /.source +
        /.*corrected p95 15\.0 ms vs budget 10 ms/.source,
    ),
  },
  {
    name: 'best effort and searches both enabled: the search comes first, best effort only after it',
    s: snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true } }),
    p: { bestEffort: true, search: { enabled: true } },
    kind: 'search',
    actions: ['search'],
  },
  {
    name: 'best effort never breaks another budget: an accuracy floor above every faster variant leaves an alert',
    s: snap(fleet(10, 8, FP32, 40), confirmed, {
      plan: { ...PLAN, corrected: true },
      budgets: { maxP95LatencyMs: 10, minAccuracyPct: 97.55 },
    }),
    p: { bestEffort: true, search: { enabled: false } },
    kind: 'alert',
    reason: /nothing fits/,
  },
  {
    name: 'accuracy breach on int8 moves up in precision (fp16), not to another int8',
    s: snap(fleet(10, 8, INT8S, 4, { breaches: ['minAccuracy'], accuracy: 0.6 }), confirmed),
    kind: 'deploy',
    target: FP16,
  },
  {
    name: 'no class → no plan: alert',
    s: snap(fleet(10, 8, FP32, 14), confirmed, { plan: null }),
    kind: 'alert',
    reason: /no plan/,
  },
  {
    name: 'too few active devices: not judged',
    s: snap(fleet(2, 2, FP32, 14), confirmed),
    p: { minActiveDevices: 3 },
    kind: 'healthy',
    reason: /not judged/,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decide(c.s, policy(c.p), c.s.at);
    t.equal(d.kind, c.kind, d.reason);
    if (c.actions)
      t.same(
        d.actions.map((a) => a.kind),
        c.actions,
      );
    if (c.reason) t.match(d.reason, c.reason);
    if (c.target) {
      const a = d.actions[0];
      t.equal(a?.kind, 'rollout');
      if (a?.kind === 'rollout') t.equal(a.recipe, c.target.recipe);
    }
  });
}

t.test('decide is deterministic and its ids derive from the inputs', async (t) => {
  const s = snap(fleet(10, 8, FP32, 14), confirmed);
  const a = decide(s, policy(), s.at);
  const b = decide(s, policy(), s.at);
  t.same(a, b);
  t.equal(a.id, `d-edge-${s.at}`);
  const other = decide({ ...s, deviceClass: 'other' }, policy(), s.at);
  t.not(other.actions[0]?.id, a.actions[0]?.id);
});

t.test('a deploy opens the episode, records the change and starts the cooldown', async (t) => {
  const s = snap(fleet(10, 8, FP32, 14), confirmed);
  const d = decide(s, policy(), s.at);
  t.equal(d.memory.episode?.changes, 1);
  t.same(d.memory.deploys, [s.at]);
  t.ok(d.record);
  // The next tick, still breaching (old windows) and in cooldown: no second change.
  const next = decide({ ...s, at: s.at + 30_000, memory: d.memory }, policy(), s.at + 30_000);
  t.not(next.kind, 'deploy');
  t.equal(next.actions.filter((a) => a.kind === 'rollout').length, 0);
});

t.test('recovery ends the episode; an unchanged kind is not stored twice', async (t) => {
  const open: ControlMemory = {
    ...EMPTY_MEMORY,
    breachingSince: 0,
    episode: { id: 'ep-1', startedAt: 0, changes: 1, replanned: false, alerted: false },
    lastKind: 'waiting',
  };
  const d = decide(snap(fleet(10, 0, INT8S, 4), open), policy(), 200_000);
  t.equal(d.kind, 'recovered');
  t.equal(d.memory.episode, null);
  t.ok(d.record);
  const w1 = decide(snap(fleet(10, 8, FP32, 14), confirmed, { rolloutActive: true }), policy(), 100_000);
  const w2 = decide(snap(fleet(10, 8, FP32, 14), w1.memory, { rolloutActive: true }), policy(), 130_000);
  t.ok(w1.record);
  t.notOk(w2.record, 'a second identical wait is not stored');
});

t.test('a breach confined to a throttled cohort is answered for that cohort alone', async (t) => {
  // 3 of 10 devices throttled and breaching: the class fraction (30%) is below 50%, the cohort's is 100%.
  const devices = fleet(10, 3, FP32, 14, { throttled: true });
  const d = decide(snap(devices, confirmed), policy(), 100_000);
  t.equal(d.kind, 'deploy', d.reason);
  const a = d.actions[0];
  t.ok(a?.kind === 'rollout' && a.cohort === 'throttled');
  if (a?.kind === 'rollout') t.same(a.deviceIds, ['d-0', 'd-1', 'd-2']);
  t.match(d.reason, /throttled cohort/);
  const off = decide(snap(devices, confirmed), policy({ cohorts: { enabled: false } }), 100_000);
  t.equal(off.kind, 'healthy', 'without cohorts a 30% breach is no class breach');
});

t.test('a search action carries the corrected ratio and the policy bounds; the episode remembers it', async (t) => {
  const s = snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true } });
  const d = decide(s, policy({ search: { enabled: true, timeBudgetMs: 60_000, maxEvaluations: 8 } }), s.at);
  const a = d.actions[0];
  if (a?.kind !== 'search') throw new Error(`expected a search action, got ${a?.kind}`);
  t.equal(a.modelSha, PLAN.modelSha);
  t.equal(a.ratio, 5, 'measured 40 ms where 8 were predicted');
  t.equal(a.timeBudgetMs, 60_000);
  t.equal(a.maxEvaluations, 8);
  t.same([a.epochs, a.trainSamples, a.finalEpochs], [1, 2000, 8], 'training per candidate and of the finalist');
  t.ok(s.budgets.maxP95LatencyMs !== undefined, 'the class has a latency budget');
  t.equal(
    a.budgets.maxP95LatencyMs,
    (s.budgets.maxP95LatencyMs ?? 0) * 0.9,
    'the search must meet the latency budget at the fit margin, as the loop judges',
  );
  const twice = snap(fleet(10, 8, FP32, 40), confirmed, { plan: { ...PLAN, corrected: true, correction: 2 } });
  const again = decide(twice, policy({ search: { enabled: true } }), twice.at).actions[0];
  t.equal(
    again?.kind === 'search' ? again.ratio : null,
    10,
    "a plan corrected ×2 already: ×10 against the class's own model",
  );
  t.equal(d.memory.episode?.searched, true);
  t.equal(decide(s, policy(), s.at).kind, 'search', 'searches are on by default (bounded by timeBudgetMs)');
  t.equal(decide(s, policy({ search: { enabled: false } }), s.at).kind, 'alert', 'and can be switched off');
});

t.test("the loop judges fit with the planner's check: memory, storage and accuracy drop count too", async (t) => {
  const fit = {
    budgets: { maxP95LatencyMs: 10, maxAccuracyDropPts: 1 },
    limits: { memoryBytes: 1e6, storageBytes: 5e5 },
    baselinePct: 97.6,
    ratio: 1,
    margin: 1,
  };
  const fits = { ...INT8S, bytes: 1e5, peakMemoryBytes: 5e5, accuracyPct: 97.0 };
  t.same(misfits(fits, fit), [], 'fast, small and accurate enough: fits');
  const budgetsBroken = (m: typeof fits) => misfits(m, fit).map((v) => v.budget);
  t.same(budgetsBroken({ ...fits, peakMemoryBytes: 2e6 }), ['capabilities.memoryBytes'], 'too much memory');
  t.same(budgetsBroken({ ...fits, bytes: 6e5 }), ['capabilities.storageBytes'], 'does not fit the storage');
  t.same(budgetsBroken({ ...fits, accuracyPct: 96.0 }), ['maxAccuracyDropPts'], 'drops 1.6 points of 1 allowed');
  t.same(
    misfits({ ...fits, accuracyPct: 96.0 }, { ...fit, baselinePct: null }),
    [],
    'no original accuracy known: the drop is not judged',
  );
  const planner = checkBudgets(
    {
      recipe: fits.recipe,
      bytes: 6e5,
      accuracyPct: 96.0,
      agreementPct: 100,
      p95LatencyMs: fits.predictedP95Ms,
      energyPerInferenceMj: fits.predictedEnergyMj,
      avgPowerW: fits.predictedPowerW,
      peakMemoryBytes: 2e6,
    },
    fit.budgets,
    fit.limits,
    fit.baselinePct,
  );
  t.same(
    misfits({ ...fits, bytes: 6e5, accuracyPct: 96.0, peakMemoryBytes: 2e6 }, fit),
    planner,
    'the same violations, to the unit, as the planner names',
  );
});

t.test('a re-plan lost with its server (kill -9 mid-plan) is issued again, once per episode', async (t) => {
  const s = snap(fleet(10, 8, FP32, 40), confirmed);
  const first = decide(s, policy(), s.at);
  t.equal(first.kind, 'replan');
  t.match(first.memory.replan, { decisionId: first.id, actionId: first.actions[0]?.id }, 'pending while act plans');
  t.equal(first.lostReplan, undefined);
  // The server died before act cleared it: the next decision (another replica's) finds it pending.
  const later = s.at + 30_000;
  const again = decide({ ...s, at: later, memory: first.memory }, policy(), later);
  t.equal(again.kind, 'replan', again.reason);
  t.match(again.reason, new RegExp(`the re-plan of ${first.id} was lost`));
  t.same(again.lostReplan, { decisionId: first.id, actionId: first.actions[0]?.id }, 'act settles the lost one');
  t.equal(again.actions[0]?.id, first.actions[0]?.id, 'the same re-plan action of the episode');
  t.equal(again.memory.episode?.replanRerun, true);
  // Lost a second time: no third re-plan in this episode (a re-plan that kills its server must not loop).
  const third = decide({ ...s, at: later + 30_000, memory: again.memory }, policy(), later + 30_000);
  t.not(third.kind, 'replan', third.reason);
  t.equal(third.memory.replan, null);
  // A re-plan act finished clears the memory: nothing is lost then.
  const done = decide({ ...s, at: later, memory: { ...first.memory, replan: null } }, policy(), later);
  t.equal(done.lostReplan, undefined);
  t.not(done.kind, 'replan', 'a finished re-plan is not issued again');
});
