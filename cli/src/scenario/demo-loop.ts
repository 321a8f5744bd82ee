/**
 * The closed loop shown live in `npm start`: on the running server and its farm, register the
 * farm's classes from the built-in profiles, add a model, plan and roll out a variant per
 * class, then throttle one class and narrate what the server's own control loop does
 * (breach → decision → rollout progress → recovery). Everything goes through the real
 * broker; only the devices' inference is sampled (simulators/src/farm-deploy.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type GoldenSet } from '@edgefleet/shared';
import type { EdgefleetServer } from '@edgefleet/server';
import { planView, type PlanMember } from '@edgefleet/server/control/index';
import { BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';
import { attachFarmDeploy, type Farm } from '@edgefleet/simulators';

export interface DemoLoopOptions {
  readonly server: EdgefleetServer;
  readonly farm: Farm;
  readonly classes: readonly string[];
  readonly modelPath: string;
  readonly dataDir: string;
  /** Delay from the rollouts' end to the thermal throttling, ms. */
  readonly throttleAfterMs: number;
  readonly print: (line: string) => void;
  readonly recipes?: readonly string[];
}

/**
 * The simulated devices do not run the golden set, but the server checks every rollout's set
 * against its variant on the host, and later rollouts of the class (the console's, the loop's)
 * reuse it: a real one from the model's evaluation data. The wide margin lets every variant of
 * the demo's plans pass it.
 */
async function demoGolden(server: EdgefleetServer, artifactSha: string): Promise<GoldenSet> {
  const made = await server.services().golden.make({ variant: artifactSha, from: 'auto', count: 8, marginPts: 30 });
  return made.golden;
}
const ms = (x: number): string => (x >= 10 ? x.toFixed(0) : x.toPrecision(2));

interface Pick {
  readonly cls: string;
  readonly from: PlanMember;
  readonly to: PlanMember;
}

/** The class and pair of its plan members with the largest speed gap: the story needs somewhere faster to go. */
function pickStory(members: ReadonlyMap<string, readonly PlanMember[]>): Pick | null {
  let best: Pick | null = null;
  for (const [cls, list] of members) {
    const ok = list.filter((m) => m.predictedP95Ms !== null);
    const slow = ok.reduce<PlanMember | null>(
      (a, m) => (a === null || (m.accuracyPct ?? 0) > (a.accuracyPct ?? 0) ? m : a),
      null,
    );
    const fast = ok.reduce<PlanMember | null>(
      (a, m) => (a === null || (m.predictedP95Ms ?? 0) < (a.predictedP95Ms ?? 0) ? m : a),
      null,
    );
    if (!slow || !fast || slow === fast) continue;
    const gap = (slow.predictedP95Ms ?? 0) / (fast.predictedP95Ms ?? 1);
    if (gap >= 2 && (!best || gap > (best.from.predictedP95Ms ?? 0) / (best.to.predictedP95Ms ?? 1)))
      best = { cls, from: slow, to: fast };
  }
  return best;
}

export async function startDemoLoop(o: DemoLoopOptions): Promise<{ stop(): Promise<void> }> {
  const { server, print } = o;
  const control = server.control();
  if (!control) {
    print('[demo] the control loop is off (control.enabled=false): no loop to show');
    return { stop: async () => undefined };
  }
  const {
    classes,
    models,
    planner,
    planner: { variants },
  } = server.services();
  for (const name of o.classes) {
    const profile = BUILTIN_CLASS_PROFILES.get(name);
    if (!profile) {
      print(`[demo] ${name}: no built-in class profile, left out of the loop demo`);
      continue;
    }
    // Devices' hellos leave the class unconfigured; create() fills in the profile (a configured one is kept).
    if (!(await classes.find(name))) await classes.create(profile);
  }
  // The demo judges latency and accuracy only: the simulators' power figures are modelled apart from the planner's.
  for (const c of (await classes.list()).filter((k) => o.classes.includes(k.name))) {
    const { maxAvgPowerW: _p, maxEnergyPerInferenceMj: _e, ...rest } = c.budgets;
    if (_p !== undefined || _e !== undefined) await classes.update(c.name, { budgets: rest });
  }
  print(
    `[demo] classes ${o.classes.join(', ')} registered from the built-in profiles (demo judges latency and ` +
      `accuracy budgets)`,
  );
  const model = await models.add({ bytes: readFileSync(o.modelPath), name: 'mnist-cnn' });
  const members = new Map<string, PlanMember[]>();
  const chosen = new Map<string, PlanMember>();
  const configured = new Set((await classes.list()).map((k) => k.name));
  for (const name of o.classes.filter((c) => configured.has(c))) {
    print(
      `[plan] ${name}: compressing and measuring ${model.model.name} ` +
        `(${(o.recipes ?? ['fp16', 'int8-dynamic', 'int8-static']).join(', ')})…`,
    );
    const stored = await planner.plan({
      model: model.model.sha256,
      deviceClass: name,
      recipes: o.recipes ?? ['fp16', 'int8-dynamic', 'int8-static'],
    });
    const view = planView(stored.id, stored.plan);
    members.set(name, [...view.members]);
    const c = view.members.find((m) => m.recipe === stored.plan.chosen) ?? view.members[0];
    if (c) chosen.set(name, c);
    print(
      `[plan] ${name}: ${view.members.map((m) => `${m.recipe} ${ms(m.predictedP95Ms ?? 0)} ms`).join(', ')} → chosen ` +
        `${stored.plan.chosen ?? 'none'}`,
    );
  }
  // Device latency = the plan's prediction × the device's condition, so a healthy class matches its plan.
  const bySha = new Map<string, PlanMember>([...members.values()].flat().map((m) => [`${m.artifactSha}`, m]));
  const perClass = (sha: string, cls: string) => members.get(cls)?.find((m) => m.artifactSha === sha) ?? bySha.get(sha);
  const detach = attachFarmDeploy(o.farm.devices, {
    clock: systemClock,
    installMs: 500,
    variant: (sha, cls) => {
      const m = perClass(sha, cls);
      const device = o.farm.devices.find((d) => d.deviceClass === cls);
      if (!m || !device) return null;
      const mult =
        device.profile.speed.latencyMultiplier[m.precision] ?? device.profile.speed.latencyMultiplier.fp32 ?? 1;
      return {
        precision: m.precision,
        hostLatencyMs: (m.predictedP95Ms ?? 1) / mult,
        goldenAccuracy: (m.accuracyPct ?? 0) / 100,
        bytes: m.bytes,
      };
    },
  });
  const story = pickStory(members);
  let budget = 0;
  if (story) {
    // A latency budget the slow variant meets with 50 % headroom (device jitter stays under it), and a slowdown that
    // breaks it while the fast one still fits.
    budget = (story.from.predictedP95Ms ?? 0) * 1.5;
    const cls = await classes.get(story.cls);
    await classes.update(story.cls, { budgets: { ...cls.budgets, maxP95LatencyMs: budget } });
    // The update invalidated the class's plan; re-plan (variants are cached) so the loop has one to choose from.
    await planner.plan({
      model: model.model.sha256,
      deviceClass: story.cls,
      recipes: o.recipes ?? ['fp16', 'int8-dynamic', 'int8-static'],
    });
    chosen.set(story.cls, story.from);
    print(
      `[demo] ${story.cls} starts on ${story.from.recipe} (its most accurate variant) with a demo latency budget of ` +
        `${ms(budget)} ms`,
    );
  }
  const unsubscribe = narrate(server, print);
  const built = await variants.list(model.model.sha256);
  for (const [name, m] of chosen) {
    const bytes = readFileSync(join(o.dataDir, built.find((v) => v.artifactSha === m.artifactSha)?.artifactPath ?? ''));
    await server.deploy().rollouts.start({
      deviceClass: name,
      artifact: { bytes },
      variantId: `v-${m.recipe}-${m.artifactSha.slice(0, 8)}`,
      golden: await demoGolden(server, m.artifactSha),
      ...(name === story?.cls ? { budgets: { latencyP95Ms: budget } } : {}),
      policy: { canary: { count: 1 }, baseCount: 2, growthFactor: 2 },
    });
  }
  let timer: NodeJS.Timeout | null = null;
  if (story) {
    // Between 1.6× (the slow variant breaks the budget) and 1.35·from/to (the fast one fits within the 0.9 margin).
    const slowdown = Math.sqrt((1.6 * 1.35 * (story.from.predictedP95Ms ?? 1)) / (story.to.predictedP95Ms ?? 1));
    timer = setTimeout(() => {
      const devices = o.farm.devices.filter((d) => d.deviceClass === story.cls && d.telemetry);
      for (const d of devices) Object.assign(d.telemetry?.condition ?? {}, { speedFactor: slowdown, throttled: true });
      print(
        `[fault] thermal throttling on ${story.cls}: ${devices.length} devices now ${slowdown.toFixed(1)}× slower ` +
          `(${story.from.recipe} ≈ ${ms((story.from.predictedP95Ms ?? 0) * slowdown)} ms vs budget ${ms(budget)} ms)`,
      );
    }, o.throttleAfterMs);
  }
  return {
    async stop() {
      if (timer) clearTimeout(timer);
      unsubscribe();
      detach();
    },
  };
}

/** Prints breaches, decisions and rollout progress as they happen; returns a function that stops. */
function narrate(server: EdgefleetServer, print: (line: string) => void): () => void {
  const seen = new Map<string, string>();
  const offBreach = server.telemetry().onBreach((b) => {
    if (b.budget !== 'latencyP95Ms') return;
    print(
      `[breach] ${b.deviceId} (${b.deviceClass}): latency p95 ${ms(b.measured)} ms ` +
        `${b.state === 'breached' ? '>' : '≤'} budget ${ms(b.limit)} ms${b.throttled ? ', thermally throttled' : ''} ` +
        `— ${b.state}`,
    );
  });
  const offEvents = server.events.subscribe((e) => {
    const ev = e.event;
    if (ev.type === 'control.decision') print(`[loop] ${ev.deviceClass}: ${ev.kind} — ${ev.reason}`);
    if (ev.type === 'control.alert') print(`[loop] ${ev.deviceClass}: ALERT ${ev.message}`);
  });
  const poll = setInterval(async () => {
    try {
      for (const r of await server.deploy().rollouts.list()) {
        const s = await server.deploy().rollouts.status(r.id);
        const done = s.devices.filter((d) => d.state === 'succeeded').length;
        const line =
          `[rollout] ${r.deviceClass} ${r.variantId}: ${s.rollout.state}, wave ` +
          `${s.rollout.currentWave + 1}/${s.rollout.waveCount}, ${done}/${s.devices.length} devices updated`;
        // One line per wave and per state change, not per device.
        const key = `${s.rollout.state}:${s.rollout.currentWave}:${s.rollout.state === 'in-progress' ? '' : done}`;
        if (seen.get(r.id) !== key) {
          seen.set(r.id, key);
          print(line);
        }
      }
    } catch {
      /* the server is stopping */
    }
  }, 500);
  return () => {
    offBreach();
    offEvents();
    clearInterval(poll);
  };
}
