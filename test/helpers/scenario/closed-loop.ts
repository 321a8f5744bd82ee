/**
 * The closed loop end to end on a virtual clock, over the real broker: the real server
 * (embedded aedes on loopback, device credentials, SQLite store, planner, deployer with signed
 * manifests, telemetry ingestion, control loop) and a farm of sampled devices on the real agent
 * link and telemetry pipeline (outbox on disk, budget watcher), all sharing one virtual clock.
 * Time moves in steps; after each step the scenario waits until the broker has delivered
 * everything both ways (`settle`), so tens of virtual minutes run in seconds and a seed replays
 * the same story. The e2e test drives it.
 *
 * What is not real: device inference is sampled (each variant's host latency from the
 * planner's own measurement × the class's speed factor × faults), and installs take a modelled
 * time instead of a chunk download (simulators/src/farm-deploy.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceClassInput, GoldenSet } from '@edgefleet/shared';
import { createServer, loadServerConfig, type EdgefleetServer } from '@edgefleet/server';
import type { DeployService } from '@edgefleet/server/deploy/index';
import { addModel, createClassService, type Planner } from '@edgefleet/server/plan/index';
import type { Store } from '@edgefleet/server/store/sqlite/open';
import {
  listDecisions,
  parseControlPolicy,
  planView,
  type ControlLoop,
  type ControlPolicyInput,
  type ReconcileResult,
  type StoredDecision,
} from '@edgefleet/server/control/index';
import {
  assignClasses,
  attachFarmDeploy,
  createSeededRandom,
  createVirtualClock,
  farmDeviceIds,
  startFarm,
  type DeviceProfile,
  type Fault,
  type Farm,
  type VirtualClock,
} from '@edgefleet/simulators';
import type { Logger } from 'pino';
import { createSettler, type Settler } from './settle.js';
import { stripUndefined } from '@edgefleet/shared';

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
  readonly store: Store;
  readonly planner: Planner;
  readonly classes: ReturnType<typeof createClassService>;
  /** Updates a class's speed factors and/or budgets in the store and in the devices' truth (before `setup`). */
  tune(
    name: string,
    patch: { factors?: Partial<Record<Precision, number>>; budgets?: DeviceClassInput['budgets'] },
  ): void;
  /** Device ids and classes (known from the start; the farm connects in `setup`). */
  readonly fleet: ScenarioFleet;
  /** The farm, once `setup` started it. */
  farm(): Farm;
  readonly deploy: DeployService;
  readonly loop: ControlLoop;
  readonly clock: VirtualClock;
  now(): number;
  /** Starts the farm, plans every class and rolls out each class's initial variant; returns when the rollouts finished. */
  setup(): Promise<void>;
  /** Advances virtual time to `to`, reconciling every tick; `onTick` sees each tick's results. */
  runUntil(to: number, onTick?: (at: number, results: readonly ReconcileResult[]) => void): Promise<void>;
  decisions(deviceClass?: string): StoredDecision[];
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
  const clock = createVirtualClock(o.startAt ?? 1_800_000_000_000);
  const now = (): number => clock.now();
  const tickMs = (o.tickSeconds ?? 30) * 1000;
  const base = loadServerConfig({
    flags: {
      dataDir: o.dataDir,
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'log.level': 'silent',
      'control.tickSeconds': o.tickSeconds ?? 30,
    },
  });
  const config = { ...base, control: { ...base.control, policy: parseControlPolicy(o.policy ?? {}) } };
  const server = createServer(config, {
    logger: o.logger,
    now,
    deploy: { tickIntervalMs: 0, random: createSeededRandom(o.seed ?? 1) },
    // Ticks come from runUntil; telemetry is written when a settle flushes it, so breach wake-ups land at fixed points.
    control: { cron: false, goldenFor: () => GOLDEN },
    planner: { timedRuns: 30 },
    telemetry: { flushIntervalMs: 0, batchSize: 100_000 },
  });
  const address = await server.start();
  const store = server.store();
  const control = server.control();
  if (!control) throw new Error('the scenario needs the control loop (control.enabled)');
  const classes = createClassService(store, { now });
  for (const c of o.classes) classes.create(c);
  const model = await addModel({
    store,
    dataDir: o.dataDir,
    bytes: readFileSync(o.modelPath),
    name: 'model',
    now: now(),
  });
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
  const secrets = new Map(ids.map((id) => [id, server.auth().provisionDevice(id, null).secret]));
  const variants = new Map<string, KnownVariant>();
  let farm: Farm | null = null;
  let detach: (() => void) | null = null;
  let settler: Settler | null = null;
  const stepMs = o.stepMs ?? 5000;
  let nextTick = clock.now() + tickMs;

  /** Every variant any plan knows, as the devices' shared measurement (host p95 from the planner's session). */
  function learnVariants(): void {
    for (const p of planner.list()) {
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
    await settler.untilOnline(ids.length);
    // Every hello written before a rollout picks its devices.
    await settler.settle();
    return started;
  }

  async function step(to: number): Promise<void> {
    clock.advanceTo(to);
    await settler?.settle();
    await deploy.rollouts.tick(to);
    await settler?.settle();
  }

  async function setup(): Promise<void> {
    farm = await startDevices();
    for (const c of o.classes) {
      const stored = await planner.plan({ model: model.model.sha256, deviceClass: c.name, recipes: o.recipes });
      const want = o.initial[c.name] ?? 'chosen';
      const recipe = want === 'chosen' ? stored.plan.chosen : want;
      const member = planView(stored.id, stored.plan).members.find((m) => m.recipe === recipe);
      if (!member) throw new Error(`class ${c.name}: no eligible ${recipe} variant in its plan`);
      learnVariants();
      await deploy.rollouts.start({
        deviceClass: c.name,
        artifact: { sha256: member.artifactSha },
        variantId: `v-${recipe}`,
        golden: GOLDEN,
        policy: { canary: { count: 1 }, baseCount: 3, growthFactor: 2 },
      });
    }
    await settler?.settle();
    while (deploy.rollouts.list({ active: true }).length > 0) await step(clock.now() + stepMs);
    nextTick = clock.now() + tickMs;
  }

  async function runUntil(
    to: number,
    onTick?: (at: number, results: readonly ReconcileResult[]) => void,
  ): Promise<void> {
    while (clock.now() < to) {
      await step(Math.min(to, clock.now() + stepMs));
      if (clock.now() >= nextTick) {
        const results = (await control?.loop.reconcileOnce(clock.now())) ?? [];
        learnVariants();
        await settler?.settle();
        onTick?.(clock.now(), results);
        nextTick += tickMs;
      }
    }
  }

  function tune(
    name: string,
    patch: { factors?: Partial<Record<Precision, number>>; budgets?: DeviceClassInput['budgets'] },
  ): void {
    if (farm) throw new Error("tune() changes the devices' truth, so call it before setup()");
    const cls = classes.get(name);
    classes.update(name, {
      ...(patch.factors
        ? { speedModel: { version: `${cls.speedModel.version}+tuned${cls.version}`, factors: patch.factors } }
        : {}),
      ...stripUndefined({ budgets: patch.budgets }),
    });
    if (patch.factors) simFactors.set(name, { ...simFactors.get(name), ...patch.factors });
  }

  return {
    server,
    store,
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
    decisions: (cls) => listDecisions(store, cls === undefined ? {} : { deviceClass: cls }),
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
