/**
 * The console's pure parts, without a browser: hash routes, the SSE parser its live stream
 * uses, the decision story's episodes, the Pareto plot's geometry (scales, budget lines,
 * labels that do not overlap) and the number formats. The browser test drives the pages.
 */
import t from 'tap';
import type { Decision, RolloutRecord, StoredPlan } from '../../console/src/api/endpoints.js';
import { parseSseBlock } from '../../console/src/api/event-stream.js';
import {
  placeLabels,
  plotPoints,
  accuracyFloor,
  niceTicks,
  logTicks,
  scales,
} from '../../console/src/components/plot-layout.js';
import {
  formatBudget,
  formatMs,
  formatAgo,
  tickDecimals,
  formatBytes,
  offlineReasonText,
} from '../../console/src/format.js';
import { buildEpisodes } from '../../console/src/pages/decision-story.js';
import { href, parseRoute } from '../../console/src/router.js';

t.test('hash routes parse and round-trip through href', async (t) => {
  t.same(parseRoute(''), { page: 'fleet' });
  t.same(parseRoute('#/'), { page: 'fleet' });
  t.same(parseRoute(href.device('sim-01')), { page: 'device', id: 'sim-01' });
  t.same(parseRoute(href.rollout('ro-a_b.c')), { page: 'rollout', id: 'ro-a_b.c' });
  t.same(parseRoute(href.plans('rpi4')), { page: 'plans', deviceClass: 'rpi4' });
  t.same(parseRoute(href.plans()), { page: 'plans', deviceClass: null });
  t.same(parseRoute(href.decisions('cam a')), { page: 'decisions', deviceClass: 'cam a' }, 'encoded segments decode');
  t.same(parseRoute('#/rollouts'), { page: 'rollouts' });
  t.same(parseRoute('#/nowhere/x'), { page: 'not-found', path: '/nowhere/x' });
});

t.test('SSE blocks parse per the format: comments skipped, data lines joined, one leading space dropped', async (t) => {
  t.same(parseSseBlock('id: 7\nevent: device.online\ndata: {"a":1}'), { id: '7', data: '{"a":1}' });
  t.same(parseSseBlock(': keepalive'), { id: null, data: null });
  t.same(parseSseBlock('data:x\ndata:  y'), { id: null, data: 'x\n y' });
  t.same(parseSseBlock('id\ndata'), { id: '', data: '' }, 'a field without a colon has an empty value');
});

const decision = (at: number, kind: Decision['kind'], outcome: Decision['outcome'] = null): Decision => ({
  id: `d-${at}`,
  deviceClass: 'cam',
  at,
  kind,
  reason: kind,
  budgets: [],
  summary: {
    activeDevices: 0,
    breachingDevices: 0,
    throttledDevices: 0,
    fractions: {},
    currentRecipe: null,
    currentSha: null,
    latencyRatio: null,
    planId: null,
  },
  actions: [],
  outcome,
});
const rollout = (id: string, createdAt: number, finishedAt: number | null): RolloutRecord => ({
  id,
  deviceClass: 'cam',
  variantId: `v-${id}`,
  artifactSha: 'a'.repeat(64),
  policy: {},
  state: finishedAt === null ? 'in-progress' : 'completed',
  currentWave: 0,
  waveCount: 3,
  reason: null,
  createdAt,
  updatedAt: createdAt,
  finishedAt,
});

t.test("the loop's story is cut into episodes from breach to recovery, newest first", async (t) => {
  const episodes = buildEpisodes(
    [
      decision(100, 'watching'),
      decision(200, 'deploy', [{ action: 'a', status: 'done', rolloutId: 'ro-loop' }]),
      decision(400, 'recovered'),
      decision(900, 'watching'),
    ],
    [rollout('ro-admin', 10, 20), rollout('ro-loop', 200, 300)],
  );
  t.equal(episodes.length, 3, 'quiet start, one answered breach, one breach under way');
  t.same(
    episodes.map((e) => e.breach),
    [true, true, false],
    'newest first',
  );
  const answered = episodes[1]?.entries ?? [];
  t.same(
    answered.map((e) => (e.kind === 'decision' ? e.decision.kind : e.kind)),
    ['watching', 'deploy', 'rollout-start', 'rollout-end', 'recovered'],
    'inside an episode the entries read in time order',
  );
  const start = answered.find((e) => e.kind === 'rollout-start');
  t.ok(start && start.kind !== 'decision' && start.byLoop, "the loop's own rollout is marked as the loop's");
  const quiet = episodes[2]?.entries[0];
  t.ok(quiet && quiet.kind === 'rollout-start' && !quiet.byLoop, 'an admin rollout is not');
  t.same(buildEpisodes([], []), [], 'nothing happened: no episodes');
});

const candidate = (recipe: string, latency: number, accuracy: number, front: boolean) => ({
  recipe,
  precision: 'fp32' as const,
  eligible: true,
  excluded: null,
  artifactSha: recipe.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a'),
  artifactPath: null,
  bytes: 1000,
  accuracyPct: accuracy,
  accuracyMetric: 'top1' as const,
  agreementPct: 100,
  predicted: {
    source: 'predicted' as const,
    hostP95Ms: latency,
    speedFactor: 1,
    p95LatencyMs: latency,
    energyPerInferenceMj: 1,
    avgPowerW: 1,
    powerLabel: 'modelled' as const,
  },
  violations: [],
  feasible: true,
  onFront: front,
});

function plan(budgets: StoredPlan['plan']['budgets'], candidates: ReturnType<typeof candidate>[]): StoredPlan['plan'] {
  return {
    type: 'plan',
    v: 1,
    model: { sha256: 'b'.repeat(64), name: 'm', evalSpec: 'mnist' },
    deviceClass: { name: 'cam', version: 1 },
    speedModel: { version: '1', status: 'modelled', factors: {}, override: null },
    budgets,
    recipes: candidates.map((c) => c.recipe),
    baseline: { recipe: 'fp32', accuracyPct: 97.5 },
    candidates,
    front: candidates.filter((c) => c.onFront).map((c) => c.recipe),
    outcome: 'feasible',
    chosen: 'fp32',
    reason: 'test',
  };
}

t.test('the Pareto plot: points, accuracy floor, budget lines in view, log scale for wide spans', async (t) => {
  const close = plan({ maxP95LatencyMs: 5, maxAccuracyDropPts: 1 }, [
    candidate('fp32', 2, 97.5, false),
    candidate('int8-dynamic', 1.93, 97.5, false),
    candidate('int8-static', 1.5, 97.5, true),
  ]);
  t.equal(plotPoints(close).length, 3);
  t.equal(accuracyFloor(close), 96.5, 'a drop budget becomes a floor below the original');
  t.equal(accuracyFloor(plan({ minAccuracyPct: 90 }, [])), 90);
  t.equal(accuracyFloor(plan({}, [])), null);
  const s = scales(plotPoints(close), 5, 96.5);
  t.notOk(s.log, 'a 3× span stays linear');
  t.ok(s.floorInView, 'a floor one point below is drawn');
  t.ok(s.x(5) > s.x(2), 'the budget line lies right of every point');
  t.ok(s.y(96.5) > s.y(97.5), 'the floor lies below the points');
  const wide = scales(plotPoints(plan({}, [candidate('a', 0.01, 97, true), candidate('b', 40, 98, true)])), null, 10);
  t.ok(wide.log, 'four decades of latency use a log axis');
  t.notOk(wide.floorInView, 'a floor far below the points is left out rather than squashing them');
});

t.test('labels of close points do not overlap', async (t) => {
  const points = [
    { key: 'int8-static', x: 140, y: 100, text: 'int8-static' },
    { key: 'int8-dynamic', x: 170, y: 100, text: 'int8-dynamic' },
    { key: 'fp32', x: 175, y: 100, text: 'fp32 · now' },
  ];
  const spots = placeLabels(points);
  const box = (p: (typeof points)[number]) => {
    const s = spots.get(p.key)!;
    const w = p.text.length * 7;
    const x0 = s.anchor === 'start' ? p.x + s.dx : s.anchor === 'end' ? p.x + s.dx - w : p.x - w / 2;
    return { x0, x1: x0 + w, y0: p.y + s.dy - 11, y1: p.y + s.dy + 3 };
  };
  for (let i = 0; i < points.length; i += 1)
    for (let j = i + 1; j < points.length; j += 1) {
      const a = box(points[i]!);
      const b = box(points[j]!);
      t.notOk(
        a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1,
        `${points[i]!.key} and ${points[j]!.key} labels are apart`,
      );
    }
});

t.test('ticks and numbers', async (t) => {
  t.same(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  t.same(niceTicks(96.5, 97.8), [96.5, 96.75, 97, 97.25, 97.5, 97.75]);
  t.same(logTicks(0.7, 60), [1, 2, 5, 10, 20, 50]);
  t.equal(tickDecimals([96.5, 96.75, 97]), 2, 'quarter steps need two decimals');
  t.equal(tickDecimals([0, 5, 10]), 0);
  t.equal(tickDecimals([0.01, 0.02, 0.03]), 2);
  t.equal(formatMs(0.01234), '0.012 ms');
  t.equal(formatMs(35.4), '35.4 ms');
  t.equal(formatMs(null), '–');
  t.equal(formatBytes(105_510), '103.0 KiB');
  t.equal(formatBudget('maxAccuracyDropPts', 1), '≤ 1 pt below the original');
  t.equal(formatBudget('minAccuracy', 0.9), '≥ 90.0 %');
  t.equal(formatAgo(1000, 61_000), '1 min ago');
  t.equal(formatAgo(null), 'never');
  t.equal(offlineReasonText('online', 'connect'), null, 'an online device needs no reason');
  t.equal(offlineReasonText('offline', 'lost'), 'connection lost (its last will)');
  t.equal(offlineReasonText('offline', 'stale'), 'silent past the heartbeat timeout');
});
