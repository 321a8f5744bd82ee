/**
 * The closed loop on real measurements [issue 23]: agent processes on this host run a steady
 * inference workload and report measured latency windows; nothing on this path is modelled.
 * 1. the server plans a model for a class whose speed factor is 1 (its devices are this host)
 *    with a slower and a faster stored variant, and rolls out the most accurate one;
 * 2. after the baseline (a minute by default) the class budget becomes 1.5 × the baseline
 *    windows' p95 (their 90th percentile) and is rolled out with the same variant, so the
 *    agents' watchers judge it;
 * 3. each agent is in its own cgroup (faults/cpu-cgroup.ts) from the start; at the onset their
 *    quota drops to `quotaCores`: measured p95 rises, agents report breaches, the server's loop
 *    decides and rolls out a faster variant in stages, measured p95 comes back, `recovered`;
 * 4. the quota is lifted and the loop is watched for flapping.
 * Every cgroup is removed on the way out, failure included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asError, EdgefleetError, type GoldenSet } from '@edgefleet/shared';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import {
  correctionOf,
  parseControlPolicy,
  planView,
  type ControlPolicy,
  type PlanMember,
} from '@edgefleet/server/control/index';
import { BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { createCpuQuotaGroup, detectCpuCgroup, type CpuQuotaGroup } from '@edgefleet/simulators';
import { pino } from 'pino';
import { startAgentProcess, type AgentProcess } from './real-agents.js';
import {
  budgetFromBaseline,
  phaseLatency,
  predictorError,
  windowP95s,
  type PhaseLatency,
} from './real-loop-figures.js';
import type { PredictorError, WindowFigure } from './real-loop-figures.js';

export interface RealLoopOptions {
  readonly dataDir: string;
  readonly modelPath: string;
  /** The faster stored variant's recipe (a preset or recipe JSON). */
  readonly fastRecipe: string;
  /** The class's accuracy budget: points the variant may lose against the original (default 3). */
  readonly maxAccuracyDropPts?: number;
  /** Evaluation data of the model (default `mnist:test:500`). */
  readonly evalSpec?: string;
  readonly devices?: number;
  readonly workloadRate?: number;
  readonly workloadBatch?: number;
  readonly windowS?: number;
  readonly baselineMs?: number;
  readonly quotaCores?: number;
  readonly periodMs?: number;
  /** CPU weight of the agents' groups relative to an ordinary process (default 8). */
  readonly weight?: number;
  /** How long the quota stays after `recovered` before it is lifted, and how long to watch after. */
  readonly holdAfterRecoveryMs?: number;
  readonly watchAfterLiftMs?: number;
  readonly tickSeconds?: number;
  readonly hysteresisMs?: number;
  readonly cooldownMs?: number;
  /** Give up waiting for the story after this long from the onset. */
  readonly timeoutMs?: number;
  /**
   * Store no faster variant: the plan holds fp32 alone, so nothing stored fits under the quota and
   * the loop searches a new model (within `search`) and rolls it out (issue 16's loop part).
   */
  readonly onlySearch?: boolean;
  /** Bounds of the loop's search (policy.search) when `onlySearch`; small defaults keep it to minutes. */
  readonly search?: Partial<Omit<ControlPolicy['search'], 'enabled'>>;
  /** How the loop predicts other variants (policy.correction); default `utilisation`. */
  readonly correction?: ControlPolicy['correction'];
  readonly print: (line: string) => void;
}

/** Times (ms since epoch) of the story's steps; absent when the step did not happen. */
export interface RealLoopMarks {
  baselineFrom?: number;
  baselineTo?: number;
  onset?: number;
  firstBreach?: number;
  /** The loop's first acting decision (a deploy, or a re-plan or search on the way to one). */
  decision?: number;
  searchStarted?: number;
  searchEnded?: number;
  rolloutDone?: number;
  recovered?: number;
  lifted?: number;
  end?: number;
}

export interface RealLoopResult {
  readonly marks: RealLoopMarks;
  readonly budgetMs: number | null;
  readonly before: PhaseLatency;
  readonly during: PhaseLatency;
  readonly after: PhaseLatency;
  readonly afterLift: PhaseLatency;
  readonly decisions: ReadonlyArray<{ readonly at: number; readonly kind: string; readonly reason: string }>;
  readonly deploysAfterLift: number;
  readonly slow: PlanMember;
  readonly fast: PlanMember | null;
  readonly deployed: string | null;
  readonly predictor: readonly PredictorError[];
  readonly throttling: ReadonlyArray<{
    readonly deviceId: string;
    readonly throttled: number;
    readonly throttledMs: number;
  }>;
}

const CLASS = 'host-real';
/** The class's speed factor: its devices are this host. */
const HOST_FACTOR = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : x.toFixed(2));

/** The golden set agents smoke-test with and run their workload on: real MNIST digits with labels. */
function mnistGolden(rows: number): GoldenSet {
  const ds = loadMnist({ split: 'test', limit: rows, layout: 'image' });
  const input = ds.inputs['input'];
  if (!input || !ds.labels) throw new Error('the MNIST loader returned no input');
  const data = input.data as Float32Array;
  return {
    inputs: {
      input: {
        dims: [...input.dims],
        data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      },
    },
    labels: [...ds.labels],
    minAccuracy: 0.8,
  };
}

async function waitFor(what: string, until: number, check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Runs the whole story; resolves with its figures. Throws EF_ERR_FAULT_CGROUP where cgroups are not writable. */
export async function runRealLoop(o: RealLoopOptions): Promise<RealLoopResult> {
  const support = detectCpuCgroup();
  if (!support.ok)
    throw new EdgefleetError(
      'EF_ERR_FAULT_CGROUP',
      `the closed loop on real measurements needs cgroups: ${support.reason}`,
    );
  const windowS = o.windowS ?? 2;
  const base = loadServerConfig({
    flags: {
      dataDir: join(o.dataDir, 'server'),
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'auth.enabled': false,
      'log.level': 'silent',
      'control.tickSeconds': o.tickSeconds ?? 2,
    },
  });
  const policy = parseControlPolicy({
    hysteresisMs: o.hysteresisMs ?? 4000,
    cooldownMs: o.cooldownMs ?? 120_000,
    bestEffort: true,
    correction: o.correction ?? 'utilisation',
    ...(o.onlySearch
      ? {
          search: {
            enabled: true,
            timeBudgetMs: 120_000,
            maxEvaluations: 4,
            epochs: 1,
            trainSamples: 1000,
            finalEpochs: 1,
            ...o.search,
          },
        }
      : // The stored-variant path: best effort rather than a search of minutes (bench's --only-search takes that path).
        { search: { enabled: false } }),
  });
  const server = createServer({ ...base, control: { ...base.control, policy } }, { logger: pino({ level: 'silent' }) });
  const agents: AgentProcess[] = [];
  const groups: CpuQuotaGroup[] = [];
  try {
    const address = await server.start();
    return await story(o, server, address.brokerUrl, agents, groups, support, windowS);
  } finally {
    for (const g of groups) g.remove();
    await Promise.all(agents.map((a) => a.stop()));
    await server.stop();
  }
}

async function story(
  o: RealLoopOptions,
  server: EdgefleetServer,
  brokerUrl: string,
  agents: AgentProcess[],
  groups: CpuQuotaGroup[],
  support: ReturnType<typeof detectCpuCgroup>,
  windowS: number,
): Promise<RealLoopResult> {
  const { print } = o;
  const { classes, models, planner } = server.services();
  const profile = BUILTIN_CLASS_PROFILES.get('rpi4');
  if (!profile) throw new Error('the rpi4 profile is missing');
  await classes.createFromProfile('rpi4', CLASS, {
    description: 'agent processes on this host: speed factor 1, the devices are the planning host',
    capabilities: { precisions: ['fp32'] },
    speedModel: { version: 'host-1', factors: { fp32: HOST_FACTOR }, status: 'modelled' },
    // The operator states the batch the devices run, so the planner predicts per call at it.
    powerModel: { activeW: { fp32: 6.4 }, workloadBatch: o.workloadBatch ?? 32 },
    budgets: { maxAccuracyDropPts: o.maxAccuracyDropPts ?? 3 },
  });
  const model = await models.add({
    bytes: readFileSync(o.modelPath),
    name: 'model',
    evalSpec: o.evalSpec ?? 'mnist:test:500',
  });
  print(
    `[plan] ${CLASS}: building fp32 and ${o.fastRecipe} of ${o.modelPath.split('/').pop()} (cached after the ` +
      `first run)…`,
  );
  // The class's devices are this host, so the planner times the variants in the devices' conditions: this process
  // (its build and timing workers are its threads) gets the agents' CPU weight while it plans, not an ordinary
  // process's share of a busy host.
  const planning = createCpuQuotaGroup('planner', support);
  let planned: Awaited<ReturnType<typeof planner.plan>>;
  try {
    planning.add(process.pid);
    planning.setWeight(o.weight ?? 8);
    planned = await planner.plan({ model: model.model.sha256, deviceClass: CLASS, recipes: recipesOf(o) });
  } finally {
    planning.remove();
  }
  const view = planView(planned.id, planned.plan);
  const slow = view.members.find((m) => m.recipe === 'fp32');
  const fast = view.members.find((m) => m.recipe !== 'fp32') ?? null;
  if (!slow) throw new Error('the plan has no fp32 member');
  const batch1 = new Map(
    (await planner.variants.list(model.model.sha256)).map((v) => [v.artifactSha, v.evaluation?.latency?.p95Ms ?? null]),
  );
  const predicted = view.members.map(
    (m) => `${m.recipe.slice(0, 40)} ${fmt(m.predictedP95Ms)} ms (acc ${m.accuracyPct}%)`,
  );
  print(`[plan] predicted p95 (host, batch ${o.workloadBatch ?? 32}): ${predicted.join(', ')}`);

  const trustedKeys = server.deploy().keyring.publicKeys.map((k) => k.publicKey);
  const n = o.devices ?? 2;
  for (let i = 1; i <= n; i += 1) {
    const a = startAgentProcess({
      deviceId: `real-${i}`,
      deviceClass: CLASS,
      brokerUrl,
      dataDir: join(o.dataDir, `agent-${i}`),
      trustedKeys,
      workloadRate: o.workloadRate ?? 60,
      workloadBatch: o.workloadBatch ?? 32,
      windowS,
    });
    agents.push(a);
    // Its own group from the start, without a quota, so before, during and after are measured in one place.
    const g = createCpuQuotaGroup(a.deviceId, support);
    groups.push(g);
    g.add(a.pid);
    g.setWeight(o.weight ?? 8);
  }
  const deadline = () => Date.now() + 120_000;
  const until = deadline();
  await waitFor('the agents to come online', until, async () => {
    const dead = agents.find((a) => a.child.exitCode !== null);
    if (dead) throw new Error(`agent process ${dead.deviceId} exited:\n${dead.output()}`);
    return (await onlineCount(server)) >= n;
  });
  print(`[agents] ${n} agent processes online (pids ${agents.map((a) => a.pid).join(', ')}), each in its own cgroup`);

  const golden = mnistGolden(24);
  const bytesOf = async (m: PlanMember): Promise<Uint8Array> => {
    const row = (await planner.variants.list(model.model.sha256)).find((v) => v.artifactSha === m.artifactSha);
    return readFileSync(join(o.dataDir, 'server', row?.artifactPath ?? ''));
  };
  const rollOut = async (budgets?: { latencyP95Ms: number }): Promise<void> => {
    const started = await server.deploy().rollouts.start({
      deviceClass: CLASS,
      artifact: { bytes: await bytesOf(slow) },
      variantId: `v-fp32-${slow.artifactSha.slice(0, 8)}`,
      golden,
      ...(budgets ? { budgets } : {}),
      policy: { canary: { count: 1 } },
    });
    let last = '';
    await waitFor('the rollout', deadline(), async () => {
      const s = await server.deploy().rollouts.status(started.rollout.id);
      if (s.rollout.state === 'aborted' || s.rollout.state === 'rolling-back')
        throw new Error(`rollout ${s.rollout.state}: ${JSON.stringify(s.devices.map((d) => d.failure ?? d.state))}`);
      last = JSON.stringify({ state: s.rollout.state, devices: s.devices.map((d) => [d.deviceId, d.state]) });
      return s.rollout.state === 'completed';
    }).catch(async (err: unknown) => {
      // A rollout that never ends says where each device stood, and what else was running for the class.
      const active = await server.deploy().rollouts.list({ active: true, deviceClass: CLASS });
      const others = active.filter((r) => r.id !== started.rollout.id).map((r) => [r.id, r.origin?.kind]);
      throw new Error(`${asError(err).message}; last status ${last}; other active rollouts ${JSON.stringify(others)}`);
    });
  };
  await rollOut();
  const marks: RealLoopMarks = {};
  // One window to warm up (first runs load code and caches), then the baseline.
  await sleep(windowS * 1000 * 2);
  marks.baselineFrom = Date.now();
  print(`[baseline] measuring ${((o.baselineMs ?? 60_000) / 1000).toFixed(0)} s of fp32 on ${n} agents…`);
  await sleep(o.baselineMs ?? 60_000);
  marks.baselineTo = Date.now();
  const windows = async (): Promise<WindowFigure[]> =>
    (await Promise.all(agents.map((a) => server.telemetry().deviceSeries(a.deviceId)))).flat();
  const baseP95s = windowP95s(await windows(), marks.baselineFrom, marks.baselineTo);
  const budgetMs = budgetFromBaseline(baseP95s);
  if (budgetMs === null) throw new Error('no telemetry windows arrived during the baseline');
  const before = phaseLatency(baseP95s);
  print(
    `[budget] baseline window p95: median ${fmt(before.medianP95Ms)} ms, p90 ${fmt(before.p90P95Ms)} ms over ` +
      `${before.windows} windows → budget ${fmt(budgetMs)} ms (1.5 × p90)`,
  );
  await classes.update(CLASS, {
    budgets: { maxAccuracyDropPts: o.maxAccuracyDropPts ?? 3, maxP95LatencyMs: budgetMs },
  });
  // The update invalidated the plan: plan again (variants are cached) so the loop has one, then hand the agents
  // the budget.
  await planner.plan({ model: model.model.sha256, deviceClass: CLASS, recipes: recipesOf(o) });
  await rollOut({ latencyP95Ms: budgetMs });
  await sleep(windowS * 1000 * 2);
  const context = { budgetMs, before, slow, fast, windows, windowS, batch1, modelSha: model.model.sha256 };
  return await throttle(o, server, agents, groups, marks, context);
}

/** The stored variants: fp32 and the faster recipe, or fp32 alone when the loop must search. */
const recipesOf = (o: RealLoopOptions): string[] => (o.onlySearch ? ['fp32'] : [o.fastRecipe]);

async function onlineCount(server: EdgefleetServer): Promise<number> {
  return (await server.services().registry.list({ deviceClass: CLASS })).filter((d) => d.state === 'online').length;
}

interface Context {
  readonly budgetMs: number;
  readonly before: PhaseLatency;
  readonly slow: PlanMember;
  readonly fast: PlanMember | null;
  readonly windows: () => Promise<WindowFigure[]>;
  readonly windowS: number;
  /** Host p95 at batch 1 by artifact sha (the planner's basis before predictions followed the workload batch). */
  readonly batch1: ReadonlyMap<string | null, number | null>;
  readonly modelSha: string;
}

async function throttle(
  o: RealLoopOptions,
  server: EdgefleetServer,
  agents: readonly AgentProcess[],
  groups: readonly CpuQuotaGroup[],
  marks: RealLoopMarks,
  c: Context,
): Promise<RealLoopResult> {
  const { print } = o;
  const decisions: Array<{ at: number; kind: string; reason: string }> = [];
  let ratio: number | null = null;
  let deployed: string | null = null;
  const offBreach = server.telemetry().onBreach((b) => {
    if (b.budget !== 'latencyP95Ms' || marks.onset === undefined) return;
    if (b.state === 'breached') marks.firstBreach ??= Date.now();
    print(
      `[breach] ${b.deviceId}: measured p95 ${fmt(b.measured)} ms ${b.state === 'breached' ? '>' : '≤'} budget ` +
        `${fmt(b.limit)} ms — ${b.state}`,
    );
  });
  const offEvents = server.events.subscribe(({ event: e }) => {
    if (e.type !== 'control.decision' || e.deviceClass !== CLASS) return;
    decisions.push({ at: Date.now(), kind: e.kind, reason: e.reason });
    print(`[loop] ${e.kind} — ${e.reason}`);
    // The ratio the loop acted on, against the plan it started from: its first acting decision's.
    if ((e.kind === 'deploy' || e.kind === 'replan' || e.kind === 'search') && marks.decision === undefined) {
      marks.decision = Date.now();
      const m = /measured\/predicted latency ([0-9.]+)/.exec(e.reason);
      ratio = m ? Number(m[1]) : null;
    }
    if (e.kind === 'search') marks.searchStarted ??= Date.now();
    if (e.kind === 'searched') marks.searchEnded ??= Date.now();
    if (e.kind === 'deploy') deployed ??= / → (.+)$/.exec(e.reason)?.[1] ?? null;
    if (e.kind === 'recovered' && marks.decision !== undefined) marks.recovered ??= Date.now();
  });
  try {
    const cores = o.quotaCores ?? 0.25;
    marks.onset = Date.now();
    for (const g of groups) g.setQuota(cores, o.periodMs ?? 100);
    print(
      `[fault] cpu-quota: ${agents.length} agent processes limited to ${cores} of a core each (period ` +
        `${o.periodMs ?? 100} ms)`,
    );
    const until = marks.onset + (o.timeoutMs ?? 240_000);
    await waitFor('recovery', until, async () => {
      if (marks.decision !== undefined && marks.rolloutDone === undefined) {
        const r = (await server.deploy().rollouts.list({ deviceClass: CLASS })).at(-1);
        if (r && r.state === 'completed' && r.createdAt >= (marks.decision ?? 0) - 2000)
          marks.rolloutDone = r.finishedAt ?? Date.now();
      }
      // Both: with two devices, the class can be back within budget once the canary alone has switched.
      return marks.recovered !== undefined && marks.rolloutDone !== undefined;
    }).catch((err: unknown) => print(`[loop] ${asError(err).message}`));
    if (marks.recovered !== undefined) {
      // At least three whole windows of the new variant under the quota, so "after" is measured, not guessed.
      const enough = (marks.rolloutDone ?? marks.recovered) + 3 * c.windowS * 1000 + 1000 - Date.now();
      await sleep(Math.max(o.holdAfterRecoveryMs ?? 10_000, enough));
    }
    marks.lifted = Date.now();
    for (const g of groups) g.setQuota(null);
    print('[fault] quota lifted');
    await sleep(o.watchAfterLiftMs ?? 30_000);
    marks.end = Date.now();
  } finally {
    offBreach();
    offEvents();
  }
  const all = await c.windows();
  const target = deployed === null ? null : await deployedMember(server, c, deployed);
  const fastSha = target?.artifactSha;
  const during = phaseLatency(
    windowP95s(all, marks.onset ?? 0, marks.decision ?? marks.lifted ?? 0, c.slow.artifactSha),
  );
  const after = phaseLatency(windowP95s(all, marks.rolloutDone ?? marks.lifted ?? 0, marks.lifted ?? 0, fastSha));
  const afterLift = phaseLatency(windowP95s(all, (marks.lifted ?? 0) + c.windowS * 1000, marks.end ?? 0));
  const batch1 = new Map(
    (await server.services().planner.variants.list(c.modelSha)).map((v) => [
      v.artifactSha,
      v.evaluation?.latency?.p95Ms ?? null,
    ]),
  );
  const predictor = predictorRows({ ...c, batch1 }, { during, after, afterLift }, target, ratio);
  return {
    marks,
    budgetMs: c.budgetMs,
    before: c.before,
    during,
    after,
    afterLift,
    decisions,
    deploysAfterLift: decisions.filter((d) => d.at >= (marks.lifted ?? Infinity) && d.kind === 'deploy').length,
    slow: c.slow,
    fast: target ?? c.fast,
    deployed,
    predictor,
    throttling: groups.map((g, i) => ({ deviceId: agents[i]?.deviceId ?? g.name, ...g.throttling() })),
  };
}

/**
 * The predictor against what the agents measured, phase by phase: fp32 in the baseline (where the
 * healthy ratio is learned) and under the quota (where the loop's breach ratio is learned), then
 * the faster variant under the quota and once the quota is lifted: the out-of-sample rows.
 */
function predictorRows(
  c: Context,
  p: { readonly during: PhaseLatency; readonly after: PhaseLatency; readonly afterLift: PhaseLatency },
  target: PlanMember | null,
  breach: number | null,
): PredictorError[] {
  const healthy = ratioOf(c.before, c.slow);
  // The loop's own prediction: the devices' standing ratio (learned in the baseline), utilisation-aware under the
  // quota, with the function the loop judges by.
  const devices = (m: PlanMember, throttled: boolean): number | null => {
    const phaseRatio = throttled ? breach : healthy;
    if (healthy === null || phaseRatio === null) return null;
    const standing = { ratio: healthy, servingPredictedMs: c.slow.predictedP95Ms };
    return m.predictedP95Ms * correctionOf(m.predictedP95Ms, { ratio: phaseRatio, standing });
  };
  const measured = c.before.medianP95Ms;
  const host1 = (m: PlanMember): number | null => {
    const h = c.batch1.get(m.artifactSha) ?? null;
    return h === null ? null : h * HOST_FACTOR;
  };
  const slow1 = host1(c.slow);
  const healthyRatio1 = measured === null || slow1 === null || slow1 <= 0 ? null : measured / slow1;
  const rows: PredictorError[] = [];
  const add = (m: PlanMember, phase: string, seen: PhaseLatency, throttled: boolean) => {
    if (seen.medianP95Ms === null) return;
    rows.push(
      predictorError({
        recipe: m.recipe,
        phase,
        outOfSample: m !== c.slow,
        measuredP95Ms: seen.medianP95Ms,
        batch1PredictedMs: host1(m),
        predictedP95Ms: m.predictedP95Ms,
        healthyRatio1,
        healthyRatio: healthy,
        breachRatio: throttled ? breach : null,
        devicesPredictedMs: devices(m, throttled),
      }),
    );
  };
  add(c.slow, 'baseline', c.before, false);
  add(c.slow, 'under the quota', p.during, true);
  if (target && breach !== null) {
    add(target, 'under the quota', p.after, true);
    add(target, 'quota lifted', p.afterLift, false);
  }
  return rows;
}

/**
 * The variant the loop rolled out, with the prediction of the plan it was stored in, that plan's
 * telemetry correction divided out (so it is judged like the stored variants).
 */
async function deployedMember(server: EdgefleetServer, c: Context, recipe: string): Promise<PlanMember | null> {
  if (recipe === c.fast?.recipe) return c.fast;
  for (const row of (await server.services().planner.list({ deviceClass: CLASS })).reverse()) {
    const view = planView(row.id, row.plan);
    const m = view.members.find((x) => x.recipe === recipe);
    if (m) return { ...m, predictedP95Ms: m.predictedP95Ms / view.correction };
  }
  return null;
}

/** The healthy per-class ratio: baseline measured p95 ÷ the planner's prediction for the variant serving. */
function ratioOf(before: PhaseLatency, slow: PlanMember): number | null {
  return before.medianP95Ms === null || slow.predictedP95Ms <= 0 ? null : before.medianP95Ms / slow.predictedP95Ms;
}
