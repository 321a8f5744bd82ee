/**
 * The loop's searches are jobs: deciding never waits for one. decide() starts a search, waits
 * (kind `waiting`) while it runs, records its end (`searched`: done, failed or lost to a restart,
 * searched again once) and never starts a second one for the class meanwhile; the loop, with
 * the real actor on a real SQLite store, keeps deciding another class while a search runs.
 * And the devices' standing correction: learned while healthy, it predicts other variants
 * utilisation-aware under a slowdown (policy `correction: 'utilisation'`).
 */
import t from 'tap';
import pino from 'pino';
import { openSqliteStore } from '@edgefleet/server';
import {
  createActor,
  correctionOf,
  createControlLoop,
  ratioAtLimit,
  decide,
  EMPTY_MEMORY,
  observeSearch,
  parseControlPolicy,
  type ClassSearcher,
  type ClassSnapshot,
  type ControlMemory,
  type DeviceObservation,
  type ObservedSearch,
  type PlanMember,
} from '@edgefleet/server/control/index';

const sha = (c: string): string => c.repeat(64);
const member = (recipe: string, shaChar: string, p95: number, acc: number): PlanMember => ({
  recipe,
  precision: 'fp32',
  artifactSha: sha(shaChar),
  bytes: 100_000,
  accuracyPct: acc,
  predictedP95Ms: p95,
  predictedPowerW: 2,
  predictedEnergyMj: p95 * 2,
  peakMemoryBytes: null,
  onFront: true,
});
const SLOW = member('fp32', 'a', 8, 97.6);
const FAST = member('pruned', 'b', 4, 97.2);
const breaching = (n: number, p95: number): DeviceObservation[] =>
  Array.from({ length: n }, (_, i) => ({
    deviceId: `d-${i}`,
    variantSha: SLOW.artifactSha,
    breaches: ['latencyP95Ms'],
    throttled: false,
    p95Ms: p95,
    powerW: 2,
    energyMj: 1,
    accuracy: 0.97,
  }));
/** A class on fp32, measured `p95` ms against a 10 ms budget; its plan was already corrected by telemetry. */
const snap = (deviceClass: string, at: number, p95: number, memory: Partial<ControlMemory>, search?: ObservedSearch) =>
  ({
    deviceClass,
    at,
    budgets: { maxP95LatencyMs: 10 },
    limits: { memoryBytes: 1e9, storageBytes: 1e9 },
    plan: {
      planId: 1,
      modelSha: sha('f'),
      recipes: ['pruned'],
      corrected: true,
      correction: 1,
      baselinePct: 97.6,
      members: [SLOW, FAST],
    },
    rolloutActive: false,
    devices: breaching(4, p95),
    memory: { ...EMPTY_MEMORY, ...memory },
    search: search ?? null,
  }) satisfies ClassSnapshot;
const policy = parseControlPolicy({ hysteresisMs: 30_000, search: { enabled: true, maxEvaluations: 4 } });
const job = (state: ObservedSearch['state'], over: Partial<ObservedSearch> = {}): ObservedSearch => ({
  id: 's-1',
  state,
  finalist: null,
  planId: null,
  detail: null,
  ...over,
});

t.test('decide: a search starts, is waited for, ends once; lost to a restart it runs again once', async (t) => {
  // 40 ms measured where 8 were predicted (×5): even the pruned variant (4 × 5 = 20 ms) misses 10 ms.
  const started = decide(snap('edge', 100_000, 40, { breachingSince: 0 }), policy, 100_000);
  t.equal(started.kind, 'search', started.reason);
  t.same(started.memory.search, { id: null, decisionId: 'd-edge-100000', startedAt: 100_000 });
  const pending = { ...started.memory, search: { id: 's-1', decisionId: started.id, startedAt: 100_000 } };

  const running = decide(snap('edge', 130_000, 40, pending, job('running', { detail: '2 of 4' })), policy, 130_000);
  t.equal(running.kind, 'waiting');
  t.match(running.reason, /search s-1 for a new model is running \(2 of 4\), started by d-edge-100000/);
  t.same(running.actions, [], 'no second search while one runs');
  const within = breaching(4, 5).map((d) => ({ ...d, breaches: [] }));
  const fresh = { ...pending, episode: null, breachingSince: 0 };
  const next = decide(snap('edge', 160_000, 40, fresh, job('running')), policy, 160_000);
  t.equal(next.kind, 'waiting', 'nor in a new episode of the class');
  const healthy = decide({ ...snap('edge', 160_000, 5, pending, job('running')), devices: within }, policy, 160_000);
  t.equal(healthy.kind, 'recovered', 'the class recovers meanwhile');
  t.equal(healthy.memory.search?.id, 's-1', 'and still waits for its search');

  const done = job('done', { finalist: 'searched-s-1 (abc)', planId: 7 });
  const ended = decide(snap('edge', 190_000, 40, pending, done), policy, 190_000);
  t.equal(ended.kind, 'searched');
  t.ok(ended.record, 'a search that ends is always stored');
  t.match(ended.reason, /^search s-1 \(started by d-edge-100000\) ended: done, made searched-s-1 \(abc\), .*plan 7/);
  t.equal(ended.memory.search, null);
  const failed = decide(snap('edge', 190_000, 40, pending, job('failed', { detail: 'EF_ERR_X boom' })), policy, 1);
  t.match(failed.reason, /ended: failed: EF_ERR_X boom/);

  const lost = decide(snap('edge', 190_000, 40, pending, job('lost')), policy, 190_000);
  t.match(lost.reason, /lost .*the server restarted.*search again once/);
  const rerun = decide(snap('edge', 190_001, 40, lost.memory), policy, 190_001);
  t.equal(rerun.kind, 'search', 'a search lost to a restart runs again');
  const again = { ...rerun.memory, search: { id: 's-2', decisionId: rerun.id, startedAt: 190_001 } };
  const lostAgain = decide(snap('edge', 220_000, 40, again, job('lost', { id: 's-2' })), policy, 220_000);
  t.match(lostAgain.reason, /not searched again/);
  t.equal(decide(snap('edge', 220_001, 40, lostAgain.memory), policy, 220_001).kind, 'alert', 'then it alerts');
});

t.test('a search job as the loop sees it; a job this server does not know is lost', async (t) => {
  const status = (state: 'running' | 'done' | 'failed', cut: string | null = null) => ({
    id: 's-1',
    state,
    progress: { evaluations: 2, maxEvaluations: 4, visited: 3, frontSize: 1 },
    result:
      state === 'done'
        ? {
            finalist: {
              artifactSha: 'ab'.repeat(32),
              bytes: 1,
              accuracyPct: 95,
              deviceP95Ms: 1,
              planId: 7,
              chosen: null,
              cut,
            },
          }
        : null,
    error: state === 'failed' ? { code: 'EF_ERR_SEARCH_FAILED', message: 'out of memory' } : null,
  });
  const jobs = (state: 'running' | 'done' | 'failed') => ({ list: () => [status(state)] as never });
  t.match(observeSearch(jobs('running'), 's-1'), { state: 'running', detail: '2 of 4 candidates evaluated' });
  t.match(observeSearch(jobs('done'), 's-1'), {
    state: 'done',
    finalist: /^searched-s-1 \(abababababab\)$/,
    planId: 7,
  });
  t.match(
    observeSearch({ list: () => [status('done', 'training cut after 6 step(s)')] as never }, 's-1'),
    { finalist: /^searched-s-1 \(abababababab; its training was cut short by the time budget\)$/ },
    'a finalist the time budget cut short says so in the searched decision',
  );
  t.match(observeSearch(jobs('failed'), 's-1'), { state: 'failed', detail: 'EF_ERR_SEARCH_FAILED out of memory' });
  t.match(observeSearch({ list: () => [] }, 's-1'), { state: 'lost', finalist: null }, 'after a restart');
});

t.test('the loop keeps deciding another class while a search runs', async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const control = store.repos.control;
  const states = new Map<string, ObservedSearch>();
  const searcher: ClassSearcher = {
    start: async () => {
      states.set('s-1', job('running'));
      return { searchId: 's-1' };
    },
    observe: (id) => states.get(id) ?? job('lost', { id }),
  };
  const rollouts: string[] = [];
  const act = createActor({
    control,
    plans: { list: async () => [] },
    variants: { findByArtifact: async () => null },
    artifacts: { get: async () => ({}) as never },
    rollouts: {
      start: async (req: { deviceClass: string }) => {
        rollouts.push(req.deviceClass);
        return { rollout: { id: `r-${rollouts.length}` } };
      },
    } as never,
    planner: {} as never,
    logger: pino({ level: 'silent' }),
    goldenFor: async () => ({ inputs: {}, labels: [], minAccuracy: 0 }),
    dataDir: t.testdir(),
    now: () => 0,
    searcher,
  });
  // edge: nothing fits (×5), it searches; cam: ×1.75, the pruned variant fits once its hysteresis is over.
  const measured: Record<string, number> = { edge: 40, cam: 14 };
  const loop = createControlLoop({
    observer: {
      observe: async (at, names) =>
        Promise.all(
          (names ?? ['edge', 'cam']).map(async (c) => {
            const memory = (await control.state(c))?.memory ?? EMPTY_MEMORY;
            const pending = memory.search ?? null;
            const seen = pending ? (pending.id ? searcher.observe(pending.id) : job('lost')) : undefined;
            return snap(c, at, measured[c] ?? 0, memory, seen);
          }),
        ),
    },
    act,
    policy,
    logger: pino({ level: 'silent' }),
    now: () => 0,
  });
  const kinds = async (at: number) =>
    (await loop.reconcileOnce(at)).map((r) => `${r.decision.deviceClass} ${r.decision.kind}`);
  t.same(await kinds(100_000), ['edge watching', 'cam watching']);
  const first = await loop.reconcileOnce(130_000);
  t.same(
    first.map((r) => r.decision.kind),
    ['search', 'deploy'],
    'the search starts; cam is decided in the same tick',
  );
  t.match(first[0]?.outcomes, [{ status: 'started', searchId: 's-1' }]);
  t.same(rollouts, ['cam'], "cam's rollout started while edge's search runs");
  t.equal((await control.state('edge'))?.memory?.search?.id, 's-1', "edge's memory names the job");
  t.same(
    await kinds(160_000),
    ['edge waiting', 'cam alert'],
    'edge waits for its search; cam is in cooldown (alerted once)',
  );
  states.set('s-1', job('done', { finalist: null }));
  t.same(await kinds(190_000), ['edge searched', 'edge alert', 'cam hold'], 'the end, then a decision on it');
  const stored = await control.decisions({ deviceClass: 'edge' });
  t.same(
    stored.map((d) => d.kind),
    ['watching', 'search', 'waiting', 'searched', 'alert'],
    'the log: started, waited for, ended (no model fits), alert',
  );
});

t.test("the devices' standing correction: learned while healthy, utilisation-aware under a slowdown", async (t) => {
  t.equal(correctionOf(4, { ratio: 3 }), 3, 'without a standing ratio: proportional');
  const fit = { ratio: 3, standing: { ratio: 1, servingPredictedMs: 8 } };
  t.equal(correctionOf(8, fit), 3, 'the serving variant: its own measured ratio');
  t.equal(correctionOf(4, fit), 1.5, 'half the CPU under a ×3 slowdown: ×1.5');
  t.equal(correctionOf(2, fit), 1, 'a quarter of the CPU: unthrottled, the standing ratio alone');
  t.equal(correctionOf(2, { ratio: 3, standing: { ratio: 1.2, servingPredictedMs: 8 } }), 1.2);
  // A limit of 6 ms: the largest fitting prediction is 4 ms (4 × 1.5 = 6), so one ratio of 1.5 judges it alike.
  t.equal(ratioAtLimit(6, fit), 1.5, "the search's one ratio at the limit");
  t.equal(ratioAtLimit(2, fit), 1, 'a limit an unthrottled variant meets: the standing ratio');
  t.equal(ratioAtLimit(6, { ratio: 3 }), 3, 'proportional: the ratio');

  const within = breaching(4, 8.8).map((d) => ({ ...d, breaches: [] }));
  const corrected2 = { ...snap('edge', 1000, 8.8, {}), devices: within };
  const learned = decide({ ...corrected2, plan: { ...corrected2.plan, correction: 2 } }, policy, 1000);
  t.same(
    learned.memory.standing,
    { ratio: 2.2, variantSha: SLOW.artifactSha, at: 1000 },
    "measured 8.8 of 8 predicted by a plan corrected ×2: ×2.2 against the class's own model",
  );
  // Under the quota fp32 measures 24 ms (×3); the pruned variant needs half its CPU.
  const standing = { breachingSince: 0, standing: { ratio: 1, variantSha: SLOW.artifactSha, at: 0 } };
  const util = parseControlPolicy({ ...policy, correction: 'utilisation' });
  const aware = decide(snap('edge', 100_000, 24, standing), util, 100_000);
  t.equal(aware.kind, 'deploy', aware.reason);
  t.match(aware.reason, /standing ratio 1\.00, utilisation-aware\) predicts pruned fits/);
  t.equal(decide(snap('edge', 100_000, 24, standing), policy, 100_000).kind, 'search', 'proportional: 12 ms, no fit');
  const hot = snap('edge', 100_000, 24, standing);
  const heat = decide({ ...hot, devices: hot.devices.map((d) => ({ ...d, throttled: true })) }, util, 100_000);
  t.equal(heat.kind, 'search', 'devices reporting thermal throttling are judged proportionally');
});
