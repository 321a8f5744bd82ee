/**
 * The closed loop end to end in one process, on a virtual clock: the real store, planner,
 * deployer (rollouts, signed manifests), telemetry ingestion and control loop, with a sampled
 * simulator fleet joined to them by a loopback transport instead of a broker. The demo, the
 * e2e test and `npm run bench:loop` all drive this, so they show the same loop.
 */
import { readFileSync } from 'node:fs';
import { decodeMessage, parseTopic, type DeviceClassInput, type GoldenSet } from '@edgefleet/shared';
import type { BrokerClient, MessageHandler } from '@edgefleet/server/broker/client';
import { createDeployService, type DeployService } from '@edgefleet/server/deploy/index';
import { addModel, createClassService, createPlanner, type Planner } from '@edgefleet/server/plan/index';
import { openStore, type Store } from '@edgefleet/server/store/db';
import { createTelemetryIngest, type TelemetryIngest } from '@edgefleet/server/telemetry/index';
import { createActor, createControlLoop, createObserver, listDecisions, parseControlPolicy, planView, type ControlLoop, type ControlPolicyInput, type ReconcileResult, type StoredDecision } from '@edgefleet/server/control/index';
import { createSampledFleet, createSeededRandom, type Fault, type SampledFleet, type SampledVariant } from '@edgefleet/simulators';
import type { Logger } from 'pino';

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
  /** Virtual step between rollout ticks and ingestion flushes, ms. Default 5000. */
  readonly stepMs?: number;
  readonly logger: Logger;
}

export interface Scenario {
  readonly store: Store;
  readonly planner: Planner;
  readonly classes: ReturnType<typeof createClassService>;
  /** Updates a class's speed factors and/or budgets in the store and in the fleet's truth (before `setup`). */
  tune(name: string, patch: { factors?: Partial<Record<'fp32' | 'fp16' | 'int8' | 'int4', number>>; budgets?: DeviceClassInput['budgets'] }): void;
  readonly fleet: SampledFleet;
  readonly deploy: DeployService;
  readonly ingest: TelemetryIngest;
  readonly loop: ControlLoop;
  now(): number;
  /** Plans every class and rolls out each class's initial variant; returns when the rollouts finished. */
  setup(): Promise<void>;
  /** Advances virtual time to `to`, reconciling every tick; `onTick` sees each tick's results. */
  runUntil(to: number, onTick?: (at: number, results: readonly ReconcileResult[]) => void): Promise<void>;
  decisions(deviceClass?: string): StoredDecision[];
  /** Recipe of the variant a device serves (null: none or unknown). */
  recipeServed(deviceId: string): string | null;
  close(): Promise<void>;
}

/** A golden set the sampled devices do not evaluate (they report the variant's measured accuracy). */
const GOLDEN: GoldenSet = { inputs: { x: { dims: [1, 1], data: Buffer.from(new Float32Array([0]).buffer).toString('base64') } }, labels: [0], minAccuracy: 0 };

function loopback(deliverToDevices: (topic: string, payload: Buffer) => void): BrokerClient & { fromDevice(topic: string, payload: Buffer): void } {
  const handlers = new Set<MessageHandler>();
  return {
    connected: true,
    async publish(topic, payload) { deliverToDevices(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload)); },
    async subscribe() { /* every device message reaches every handler; they filter by channel */ },
    onMessage(h) { handlers.add(h); return () => { handlers.delete(h); }; },
    async close() { handlers.clear(); },
    fromDevice(topic, payload) { for (const h of handlers) h(topic, payload, { retained: false }); },
  };
}

export async function createScenario(o: ScenarioOptions): Promise<Scenario> {
  let clock = o.startAt ?? 1_800_000_000_000;
  const now = (): number => clock;
  const log = o.logger;
  const store = openStore({ dataDir: o.dataDir });
  const classes = createClassService(store, { now });
  for (const c of o.classes) classes.create(c);
  const model = await addModel({ store, dataDir: o.dataDir, bytes: readFileSync(o.modelPath), name: 'model', now: clock });
  const planner = createPlanner({ store, dataDir: o.dataDir, timedRuns: 30, now });
  const variants = new Map<string, SampledVariant & { recipe: string }>();
  let fleet: SampledFleet | null = null;
  const client = loopback((topic, payload) => fleet?.handleMessage(topic, payload));
  const random = createSeededRandom(o.seed ?? 1);
  const deploy = createDeployService({ store, client, dataDir: o.dataDir, logger: log.child({ component: 'deploy' }), now, random, tickIntervalMs: 0 });
  const ingest = createTelemetryIngest({ tables: store.telemetry, now, logger: log, flushIntervalMs: 0, batchSize: 100_000 });
  client.onMessage((topic, payload) => {
    const channel = parseTopic(topic)?.channel;
    if (channel === 'hello') {
      const d = decodeMessage(topic, payload);
      if (d.ok && d.message.type === 'hello') store.devices.upsertHello(d.message, now());
    } else ingest.handleMessage(topic, payload);
  });
  // The fleet's truth is each class's speed model; `tune` keeps both in step.
  const simClasses = o.classes.map((c) => ({
    name: c.name, precisions: c.capabilities.precisions, factors: { ...c.speedModel.factors }, idleW: c.powerModel.idleW, activeW: c.powerModel.activeW,
    cores: c.capabilities.cores, memoryBytes: c.capabilities.memoryBytes,
  }));
  fleet = createSampledFleet({
    classes: simClasses,
    devicesPerClass: o.devicesPerClass, seed: o.seed ?? 1, startAt: clock, faults: o.faults ?? [],
    variant: (sha) => variants.get(sha) ?? null,
    send: (topic, payload) => client.fromDevice(topic, payload),
  });
  const policy = parseControlPolicy(o.policy ?? {});
  const observer = createObserver({ store });
  const act = createActor({ store, rollouts: deploy.rollouts, planner, logger: log, goldenFor: () => GOLDEN, dataDir: o.dataDir, now });
  const loop = createControlLoop({ observer, act, policy, logger: log, now, ...(o.tickSeconds === undefined ? {} : { tickSeconds: o.tickSeconds }) });
  const tickMs = (o.tickSeconds ?? 30) * 1000;
  const stepMs = o.stepMs ?? 5000;
  let nextTick = clock + tickMs;

  /** Every variant any plan knows, as the fleet's shared measurement (host p95 from the planner's session). */
  function learnVariants(): void {
    for (const p of planner.list()) {
      for (const c of p.plan.candidates) {
        if (!c.artifactSha || !c.predicted || c.bytes === null) continue;
        variants.set(c.artifactSha, { recipe: c.recipe, precision: c.precision, hostP95Ms: c.predicted.hostP95Ms, accuracy: (c.accuracyPct ?? 0) / 100, bytes: c.bytes });
      }
    }
  }

  async function step(to: number): Promise<void> {
    fleet?.advance(to);
    clock = to;
    ingest.flush();
    await deploy.rollouts.tick(to);
  }

  async function setup(): Promise<void> {
    await deploy.start();
    fleet?.start();
    for (const c of o.classes) {
      const stored = await planner.plan({ model: model.model.sha256, deviceClass: c.name, recipes: o.recipes });
      const want = o.initial[c.name] ?? 'chosen';
      const recipe = want === 'chosen' ? stored.plan.chosen : want;
      const member = planView(stored.id, stored.plan).members.find((m) => m.recipe === recipe);
      if (!member) throw new Error(`class ${c.name}: no eligible ${recipe} variant in its plan`);
      learnVariants();
      await deploy.rollouts.start({ deviceClass: c.name, artifact: { bytes: readFileSync(`${o.dataDir}/${stored.plan.candidates.find((x) => x.recipe === recipe)?.artifactPath ?? ''}`) }, variantId: `v-${recipe}`, golden: GOLDEN, policy: { canary: { count: 1 }, baseCount: 3, growthFactor: 2 } });
    }
    while (deploy.rollouts.list({ active: true }).length > 0) await step(clock + stepMs);
    nextTick = clock + tickMs;
  }

  async function runUntil(to: number, onTick?: (at: number, results: readonly ReconcileResult[]) => void): Promise<void> {
    while (clock < to) {
      await step(Math.min(to, clock + stepMs));
      if (clock >= nextTick) {
        const results = await loop.reconcileOnce(clock);
        learnVariants();
        onTick?.(clock, results);
        nextTick += tickMs;
      }
    }
  }

  function tune(name: string, patch: { factors?: Partial<Record<'fp32' | 'fp16' | 'int8' | 'int4', number>>; budgets?: DeviceClassInput['budgets'] }): void {
    const cls = classes.get(name);
    classes.update(name, {
      ...(patch.factors ? { speedModel: { version: `${cls.speedModel.version}+tuned${cls.version}`, factors: patch.factors } } : {}),
      ...(patch.budgets ? { budgets: patch.budgets } : {}),
    });
    const sim = simClasses.find((c) => c.name === name);
    if (sim && patch.factors) Object.assign(sim.factors, patch.factors);
  }

  return {
    tune,
    store, planner, classes, fleet, deploy, ingest, loop, now, setup, runUntil,
    decisions: (cls) => listDecisions(store, cls === undefined ? {} : { deviceClass: cls }),
    recipeServed: (id) => { const sha = fleet?.serving(id) ?? null; return sha === null ? null : variants.get(sha)?.recipe ?? null; },
    async close() { await loop.stop(); ingest.close(); await deploy.stop(); store.close(); },
  };
}


