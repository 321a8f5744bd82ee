/**
 * A re-plan cut off by its replica's death (issue 20): the decision that re-plans leaves
 * `memory.replan` pending until act has stored the plan. Replica a's act never returns from
 * planning (killed), so the decision stays without an outcome and the memory pending; replica
 * b, taking the class over, decides on that memory: it re-plans again (once), and its act marks
 * a's decision lost and clears the pending re-plan. The real actor on a real SQLite store.
 */
import t from 'tap';
import pino from 'pino';
import { openSqliteStore } from '@edgefleet/server';
import {
  createActor,
  decide,
  EMPTY_MEMORY,
  parseControlPolicy,
  type ClassSnapshot,
  type ControlMemory,
  type PlanMember,
} from '@edgefleet/server/control/index';
import type { Planner } from '@edgefleet/server/plan/planner';

const FP32: PlanMember = {
  recipe: 'baseline',
  precision: 'fp32',
  artifactSha: 'a'.repeat(64),
  bytes: 100_000,
  accuracyPct: 97.6,
  predictedP95Ms: 8,
  predictedPowerW: 2,
  predictedEnergyMj: 16,
  peakMemoryBytes: null,
  onFront: true,
};
/** Eight devices of `edge` measure 40 ms where 8 were predicted: nothing on the uncorrected plan fits. */
const snapshot = (at: number, memory: ControlMemory): ClassSnapshot => ({
  deviceClass: 'edge',
  at,
  budgets: { maxP95LatencyMs: 10 },
  limits: { memoryBytes: 1e9, storageBytes: 1e9 },
  plan: {
    planId: 1,
    modelSha: 'f'.repeat(64),
    recipes: ['baseline'],
    corrected: false,
    correction: 1,
    baselinePct: 97.6,
    members: [FP32],
  },
  rolloutActive: false,
  devices: Array.from({ length: 8 }, (_, i) => ({
    deviceId: `d-${i}`,
    variantSha: FP32.artifactSha,
    breaches: ['latencyP95Ms' as const],
    throttled: false,
    p95Ms: 40,
    powerW: 2,
    energyMj: 1,
    accuracy: 0.97,
  })),
  memory,
});

t.test('a re-plan lost with its replica is marked lost and issued again by the next owner', async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const control = store.repos.control;
  const actor = (planner: Pick<Planner, 'plan'>) =>
    createActor({
      control,
      plans: { list: async () => [] },
      variants: { findByArtifact: async () => null },
      artifacts: { get: async () => null },
      rollouts: {} as never,
      planner: planner as Planner,
      logger: pino({ level: 'silent' }),
      goldenFor: async () => ({ inputs: {}, labels: [], minAccuracy: 0 }),
      dataDir: t.testdir(),
      now: () => 0,
    });
  const policy = parseControlPolicy({ hysteresisMs: 0 });
  let asked = 0;
  // Replica a: planning never returns (the process was killed while its builds ran).
  const actA = actor({ plan: () => new Promise(() => (asked += 1)) });
  const first = decide(snapshot(1_000, { ...EMPTY_MEMORY, breachingSince: 0 }), policy, 1_000);
  t.equal(first.kind, 'replan', first.reason);
  void actA(first);
  for (let i = 0; i < 500 && asked === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
  t.equal(asked, 1, 'replica a was planning');
  const left = (await control.state('edge'))?.memory;
  t.match(left?.replan, { decisionId: first.id }, 'the store still names the re-plan as pending');

  // Replica b takes the class over and decides on what the store holds.
  const actB = actor({
    plan: async () => ({ id: 2, createdAt: 0, reused: false, plan: { chosen: 'baseline' } }) as never,
  });
  const second = decide(snapshot(2_000, left ?? EMPTY_MEMORY), policy, 2_000);
  t.equal(second.kind, 'replan', 're-planned by the new owner');
  t.match(second.reason, /was lost/);
  t.match(await actB(second), [{ status: 'done', planId: 2 }]);
  const decisions = await control.decisions({ deviceClass: 'edge' });
  const lost = decisions.find((d) => d.id === first.id);
  t.match(lost?.outcome, [{ status: 'error', error: /^lost: the server running it stopped/ }], 'a’s decision: lost');
  t.match(decisions.find((d) => d.id === second.id)?.outcome, [{ status: 'done', planId: 2 }]);
  t.equal((await control.state('edge'))?.memory?.replan, null, 'nothing pending once b stored its plan');
});

t.test('a re-plan that fails is over too: the next decision does not take it for lost', async (t) => {
  const store = openSqliteStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  const act = createActor({
    control: store.repos.control,
    plans: { list: async () => [] },
    variants: { findByArtifact: async () => null },
    artifacts: { get: async () => null },
    rollouts: {} as never,
    planner: { plan: async () => Promise.reject(new Error('no such model')) } as never,
    logger: pino({ level: 'silent' }),
    goldenFor: async () => ({ inputs: {}, labels: [], minAccuracy: 0 }),
    dataDir: t.testdir(),
    now: () => 0,
  });
  const policy = parseControlPolicy({ hysteresisMs: 0 });
  const d = decide(snapshot(1_000, { ...EMPTY_MEMORY, breachingSince: 0 }), policy, 1_000);
  t.equal(d.kind, 'replan', d.reason);
  t.match(await act(d), [{ status: 'error', error: 'no such model' }]);
  t.equal((await store.repos.control.state('edge'))?.memory?.replan, null);
});
