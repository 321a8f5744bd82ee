/**
 * The closed loop end to end on virtual time, over the real broker: the real server (embedded
 * aedes on loopback, device credentials, SQLite store, planner, deployer with signed
 * manifests, telemetry ingestion, control loop, its one scheduler) and a farm of sampled
 * devices on the real agent link and telemetry pipeline (outbox on disk, budget watcher). The
 * devices and the server each get a clock on one virtual time. Time moves in steps: the
 * devices' timers fire and the broker settles, then the server's scheduled tasks run (rollout
 * evaluation, presence sweep, the control loop's cron tick) and the broker settles again
 * (`lockstep` in settle.ts), so tens of virtual minutes run in seconds and a seed replays the
 * same story. The e2e tests drive it.
 *
 * What is not real: device inference is sampled (each variant's host latency from the
 * planner's own measurement × the class's speed factor × faults), and installs take a modelled
 * time instead of a chunk download (simulators/src/farm-deploy.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripUndefined, type DeviceClassInput, type GoldenSet } from '@edgefleet/shared';
import { createServer, loadServerConfig, type EdgefleetServer, type Repositories } from '@edgefleet/server';
import type { DeployService } from '@edgefleet/server/deploy/index';
import type { ClassService, Planner } from '@edgefleet/server/plan/index';
import {
  listDecisions,
  parseControlPolicy,
  planView,
  type ControlLoop,
  type ControlPolicyInput,
  type StoredDecision,
} from '@edgefleet/server/control/index';
import {
  assignClasses,
  attachFarmDeploy,
  createSeededRandom,
  createVirtualClocks,
  farmDeviceIds,
  startFarm,
  type DeviceProfile,
  type Fault,
  type Farm,
  type VirtualClock,
} from '@edgefleet/simulators';
import type { Logger } from 'pino';
import { createSettler, lockstep, type Settler } from './settle.js';

type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';

export interface ScenarioOptions {
  readonly dataDir: string;
  readonly modelPath: string;
  readonly classes: readonly DeviceClassInput[];
  readonly devicesPerClass: number;
  readonly recipes: readonly string[];
  /** Which plan member each class starts on: a recipe name, or `chosen` (the plan's choice). */
  readonly initial: Readonly<Record<string, string>>;
  readonly faults?: readonly Fault[];
  readonly policy?: ControlPolicyInput;
  readonly seed?: number;
  readonly startAt?: number;
  readonly tickSeconds?: number;
  /** Wait for the loop's search jobs after each tick (default true); false: they run beside virtual time. */
  readonly awaitSearches?: boolean;
  /** Virtual time between settles (rollout evaluation, broker delivery), ms. Default 5000. */
  readonly stepMs?: number;
  /** Devices' telemetry window, ms. Default 10 000. */
  readonly windowMs?: number;
  readonly logger: Logger;
}

/** The farm's devices as the scenario's caller needs them. */
export interface ScenarioFleet {
  readonly deviceIds: readonly string[];
  classOf(deviceId: string): string;
}

export interface Scenario {
  readonly server: EdgefleetServer;
  readonly repos: Repositories;
  readonly planner: Planner;
  readonly classes: ClassService;
  /** Updates a class's speed factors and/or budgets in the store and in the devices' truth (before `setup`). */
  tune(
    name: string,
    patch: { factors?: Partial<Record<Precision, number>>; budgets?: DeviceClassInput['budgets'] },
  ): Promise<void>;
  /** Device ids and classes (known from the start; the farm connects in `setup`). */
  readonly fleet: ScenarioFleet;
  /** The farm, once `setup` started it. */
  farm(): Farm;
  readonly deploy: DeployService;
  readonly loop: ControlLoop;
  /** The devices' clock (the server's shares its time). */
  readonly clock: VirtualClock;
  now(): number;
  /**
   * Starts the farm, plans every class and rolls out each class's initial variant; returns when the rollouts finished.
   */
  setup(): Promise<void>;
  /**
   * Advances virtual time to `to` in steps; the server's scheduler runs the control tick; `onTick` sees each tick's
   * time.
   */
  runUntil(to: number, onTick?: (at: number) => void): Promise<void>;
  decisions(deviceClass?: string): Promise<StoredDecision[]>;
  /** Recipe of the variant a device serves (null: none or unknown). */
  recipeServed(deviceId: string): string | null;
  /** Broker delivery checks so far (settles, polls while waiting). */
  settles(): ReturnType<Settler['stats']>;
  close(): Promise<void>;
}

/** A golden set the sampled devices do not evaluate (they report the variant's measured accuracy). */
const GOLDEN: GoldenSet = {
  inputs: { x: { dims: [1, 1], data: Buffer.from(new Float32Array([0]).buffer).toString('base64') } },
  labels: [0],
  minAccuracy: 0,
};

interface KnownVariant {
  readonly recipe: string;
  readonly precision: Precision;
  readonly hostP95Ms: number;
  readonly accuracy: number;
  readonly bytes: number;
}

/** A simulated profile for a class: its speed model as the devices' truth, small jitter, modelled power. */
function profileOf(c: DeviceClassInput, factors: Partial<Record<Precision, number>>): DeviceProfile {
  return {
    class: c.name,
    description: `scenario class ${c.name}`,
    capabilities: {
      cpuModel: `simulated ${c.name}`,
      cores: c.capabilities.cores,
      memoryBytes: c.capabilities.memoryBytes,
      executionProviders: ['cpu'],
      precisions: [...c.capabilities.precisions],
    },
    speed: { latencyMultiplier: { ...factors }, jitterPct: 3, status: 'modelled' },
    power: { idleW: c.powerModel.idleW, activeW: { ...c.powerModel.activeW } },
    sources: { simulation: "scenario: the class speed model is the devices' truth" },
  };
}

export async function createScenario(o: ScenarioOptions): Promise<Scenario> {
  const [clock, serverClock] = createVirtualClocks(o.startAt ?? 1_800_000_000_000, 2) as [VirtualClock, VirtualClock];
  const now = (): number => clock.now();
  const stepMs = o.stepMs ?? 5000;
  const base = loadServerConfig({
    flags: {
      dataDir: o.dataDir,
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'log.level': 'silent',
      'control.tickSeconds': o.tickSeconds ?? 30,
      // One sweep per step, on the step grid.
      'presence.sweepIntervalMs': stepMs,
    },
  });
  const config = { ...base, control: { ...base.control, policy: parseControlPolicy(o.policy ?? {}) } };
  const server = createServer(config, {
    logger: o.logger,
    clock: serverClock,
    random: createSeededRandom(o.seed ?? 1),
    // One evaluation per step, on the step grid.
    deploy: { evaluateEveryMs: stepMs },
    control: { goldenFor: async () => GOLDEN },
    planner: { timedRuns: 30 },
    // Telemetry is written when a settle flushes it (or at the batch deadline in the server's phase).
    telemetry: { batchSize: 100_000 },
  });
  const address = await server.start();
  const repos = server.repos();
  const control = server.control();
  if (!control) throw new Error('the scenario needs the control loop (control.enabled)');
  const { classes, models } = server.services();
  for (const c of o.classes) await classes.create(c);
  const model = await models.add({ bytes: readFileSync(o.modelPath), name: 'model' });
  const planner = server.planner();
  const deploy = server.deploy();
  const simFactors = new Map(
    o.classes.map((c) => [c.name, { ...c.speedModel.factors } as Partial<Record<Precision, number>>]),
  );
  const classNames = o.classes.map((c) => c.name);
  const ids = farmDeviceIds(o.devicesPerClass * classNames.length);
  // The farm assigns classes from the seed; the same plan is known before it starts.
  const plan = assignClasses(ids.length, classNames, o.seed ?? 1);
  const classOf = new Map(ids.map((id, i) => [id, plan[i] as string]));
  const secrets = new Map<string, string>();
  for (const id of ids) secrets.set(id, (await server.auth().provisionDevice(id, null)).secret);
  const variants = new Map<string, KnownVariant>();
  let farm: Farm | null = null;
  let detach: (() => void) | null = null;
  let settler: Settler | null = null;
  let step: ((to: number) => Promise<void>) | null = null;

  /** Every variant any plan knows, as the devices' shared measurement (host p95 from the planner's session). */
  async function learnVariants(): Promise<void> {
    for (const p of await planner.list()) {
      for (const c of p.plan.candidates) {
        if (!c.artifactSha || !c.predicted || c.bytes === null) continue;
        variants.set(c.artifactSha, {
          recipe: c.recipe,
          precision: c.precision as Precision,
          hostP95Ms: c.predicted.hostP95Ms,
          accuracy: (c.accuracyPct ?? 0) / 100,
          bytes: c.bytes,
        });
      }
    }
  }

  async function startDevices(): Promise<Farm> {
    const url = new URL(address.brokerUrl);
    const started = await startFarm({
      brokerUrl: address.brokerUrl,
      devices: ids.length,
      classes: classNames,
      seed: o.seed ?? 1,
      logger: o.logger,
      clock,
      brokerUrlFor: (id) => {
        const u = new URL(url);
        u.username = id;
        u.password = secrets.get(id) ?? '';
        return u.toString();
      },
      profiles: new Map(o.classes.map((c) => [c.name, profileOf(c, simFactors.get(c.name) ?? {})])),
      telemetry: { dataDir: join(o.dataDir, 'farm'), windowMs: o.windowMs ?? 10_000, ratePerS: 2 },
      ...stripUndefined({ faults: o.faults }),
    });
    detach = attachFarmDeploy(started.devices, {
      clock,
      installMs: 2000,
      variant: (sha) => {
        const v = variants.get(sha);
        return v
          ? { precision: v.precision, hostLatencyMs: v.hostP95Ms, goldenAccuracy: v.accuracy, bytes: v.bytes }
          : null;
      },
    });
    settler = createSettler({ server, devices: started.devices, loop: control?.loop ?? null, logger: o.logger });
    step = lockstep({ devices: clock, server: serverClock, scheduler: server.scheduler, settler });
    await settler.untilOnline(ids.length);
    // Every hello written before a rollout picks its devices.
    await settler.settle();
    return started;
  }

  async function setup(): Promise<void> {
    farm = await startDevices();
    for (const c of o.classes) {
      const stored = await planner.plan({ model: model.model.sha256, deviceClass: c.name, recipes: o.recipes });
      const want = o.initial[c.name] ?? 'chosen';
      const recipe = want === 'chosen' ? stored.plan.chosen : want;
      const member = planView(stored.id, stored.plan).members.find((m) => m.recipe === recipe);
      if (!member) throw new Error(`class ${c.name}: no eligible ${recipe} variant in its plan`);
      await learnVariants();
      await deploy.rollouts.start({
        deviceClass: c.name,
        artifact: { sha256: member.artifactSha },
        variantId: `v-${recipe}`,
        golden: GOLDEN,
        policy: { canary: { count: 1 }, baseCount: 3, growthFactor: 2 },
      });
    }
    await settler?.settle();
    while ((await deploy.rollouts.list({ active: true })).length > 0) await step?.(clock.now() + stepMs);
  }

  const tickRuns = (): number => server.scheduler.tasks().find((task) => task.name === 'control-tick')?.runs ?? 0;

  async function runUntil(to: number, onTick?: (at: number) => void): Promise<void> {
    while (clock.now() < to) {
      const before = tickRuns();
      await step?.(Math.min(to, clock.now() + stepMs));
      if (tickRuns() > before) {
        // A search the loop started runs in real time, a job beside the loop; the virtual clock waits for it, so a
        // seed replays the same story (its end wakes the loop: idle() waits for that reconcile).
        if (o.awaitSearches !== false) {
          const jobs = server.services().searches;
          for (const j of jobs?.list() ?? []) if (j.state === 'queued' || j.state === 'running') await jobs?.wait(j.id);
          await control?.loop.idle();
        }
        // A tick may have re-planned: the devices learn the new variants' measurements.
        await learnVariants();
        onTick?.(clock.now());
      }
    }
  }

  async function tune(
    name: string,
    patch: { factors?: Partial<Record<Precision, number>>; budgets?: DeviceClassInput['budgets'] },
  ): Promise<void> {
    if (farm) throw new Error("tune() changes the devices' truth, so call it before setup()");
    const cls = await classes.get(name);
    await classes.update(name, {
      ...(patch.factors
        ? { speedModel: { version: `${cls.speedModel.version}+tuned${cls.version}`, factors: patch.factors } }
        : {}),
      ...stripUndefined({ budgets: patch.budgets }),
    });
    if (patch.factors) simFactors.set(name, { ...simFactors.get(name), ...patch.factors });
  }

  return {
    server,
    repos,
    planner,
    classes,
    deploy,
    loop: control.loop,
    clock,
    now,
    setup,
    runUntil,
    tune,
    fleet: { deviceIds: ids, classOf: (id) => classOf.get(id) ?? '' },
    farm: () => {
      if (!farm) throw new Error('the farm starts in setup()');
      return farm;
    },
    decisions: (cls) => listDecisions(repos.control, stripUndefined({ deviceClass: cls })),
    recipeServed: (id) => {
      const sha = farm?.devices.find((d) => d.deviceId === id)?.telemetry?.model()?.sha256 ?? null;
      return sha === null ? null : (variants.get(sha)?.recipe ?? null);
    },
    settles: () => settler?.stats() ?? { settles: 0, polls: 0 },
    async close() {
      detach?.();
      await farm?.stop();
      await server.stop();
    },
  };
}
