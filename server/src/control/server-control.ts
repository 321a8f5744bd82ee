/**
 * The control loop as the server runs it: the observer (fed by flushed telemetry), the actor
 * (rollouts through the server's deployer, re-plans through its planner), the `control-tick`
 * task on the server's scheduler, and the wire from telemetry breach events to an immediate
 * reconcile of the breaching class.
 */
import { EdgefleetError, type GoldenSet } from '@edgefleet/shared';
import type { RolloutService } from '../deploy/rollout-service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { ClassService } from '../plan/classes.js';
import type { Planner } from '../plan/planner.js';
import type { SearchJobs } from '../plan/search-jobs.js';
import type { Ownership } from '../schedule/ownership.js';
import { cronEvery, type Scheduler } from '../schedule/scheduler.js';
import type { Repositories } from '../store/index.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { TelemetryService } from '../telemetry/telemetry-service.js';
import { createActor, type ClassSearcher } from './act.js';
import { createControlLoop, type ControlLoop } from './loop.js';
import { createObserver } from './observe.js';
import type { ControlPolicy } from './policy.js';

export interface ServerControlOptions {
  readonly repos: Pick<
    Repositories,
    'plans' | 'variants' | 'artifacts' | 'rollouts' | 'desired' | 'telemetry' | 'control'
  >;
  readonly classes: ClassService;
  readonly rollouts: RolloutService;
  readonly telemetry: TelemetryService;
  readonly planner: Planner;
  readonly scheduler: Scheduler;
  /**
   * With replicas, each class's tick runs where `control:<class>` is held, so replicas split the
   * classes and no class is decided twice. Default: every class here.
   */
  readonly ownership?: Ownership;
  readonly dataDir: string;
  readonly policy: ControlPolicy;
  /** Seconds between ticks (1–3600). */
  readonly tickSeconds: number;
  readonly logger: Logger;
  readonly now: () => number;
  readonly events?: EventBus;
  /** Runs the loop's `search` actions (policy.search.enabled); unset: they are skipped. */
  readonly searches?: SearchJobs;
  /** Golden set for a loop rollout; default: the one of the class's latest rollout. */
  readonly goldenFor?: (deviceClass: string) => Promise<GoldenSet>;
}

export interface ServerControl {
  readonly loop: ControlLoop;
  /** The planner re-plans go through: the server's one planner, shared with the admin API. */
  readonly planner: Planner;
  /** Listens to breach events and schedules the tick. */
  start(): void;
  /** Stops listening; waits for a reconcile in flight. */
  stop(): Promise<void>;
}

/** The golden set the class's devices last checked a variant with, so a loop rollout is judged the same way. */
export async function latestGolden(rollouts: Pick<RolloutRepository, 'list'>, deviceClass: string): Promise<GoldenSet> {
  const last = (await rollouts.list({ deviceClass })).at(-1);
  if (!last)
    throw new EdgefleetError(
      'EF_ERR_ROLLOUT_INVALID',
      `class ${deviceClass} has had no rollout yet, so the control loop has no golden set for it; ` +
        `start one with \`edgefleet rollout start --class ${deviceClass} --golden FILE\``,
      { deviceClass },
    );
  return last.golden;
}

/** The loop's searcher over search jobs: queue the search and wait for the plan that includes its finalist. */
export function searcherOf(searches: SearchJobs): ClassSearcher {
  return async (req) => {
    const started = await searches.start({
      model: req.modelSha,
      class: req.deviceClass,
      evaluations: req.maxEvaluations,
      timeBudgetMs: req.timeBudgetMs,
      ratio: req.ratio,
      epochs: req.epochs,
      trainSamples: req.trainSamples,
      finalEpochs: req.finalEpochs,
      budgets: req.budgets,
    });
    const done = await searches.wait(started.id);
    if (done.state === 'failed')
      throw new Error(`search ${done.id} failed: ${done.error?.code ?? ''} ${done.error?.message ?? ''}`);
    const f = done.result?.finalist ?? null;
    return { planId: f?.planId ?? 0, chosen: f?.chosen ?? null };
  };
}

export function createServerControl(o: ServerControlOptions): ServerControl {
  const { repos } = o;
  const observer = createObserver({
    classes: o.classes,
    plans: repos.plans,
    telemetry: repos.telemetry,
    rollouts: repos.rollouts,
    desired: repos.desired,
    control: repos.control,
  });
  const act = createActor({
    control: repos.control,
    plans: repos.plans,
    variants: repos.variants,
    artifacts: repos.artifacts,
    rollouts: o.rollouts,
    planner: o.planner,
    logger: o.logger,
    dataDir: o.dataDir,
    now: o.now,
    goldenFor: o.goldenFor ?? ((c) => latestGolden(repos.rollouts, c)),
    ...(o.events ? { events: o.events } : {}),
    ...(o.searches ? { searcher: searcherOf(o.searches) } : {}),
  });
  const loop = createControlLoop({
    // Windows wait up to a batch interval in the ingest buffer; the loop must judge what arrived.
    observer: {
      observe: async (at, classes) => {
        await o.telemetry.flush();
        return observer.observe(at, classes);
      },
    },
    act,
    policy: o.policy,
    logger: o.logger,
    now: o.now,
  });
  let unsubscribe: (() => void) | null = null;
  const ownsClass = async (deviceClass: string) => !o.ownership || o.ownership.claim(`control:${deviceClass}`);
  return {
    loop,
    planner: o.planner,
    start() {
      if (unsubscribe) return;
      // A breach reported by an agent wakes the loop for that class now, not at the next tick.
      unsubscribe = o.telemetry.onBreach((b) => {
        if (b.state !== 'breached') return;
        void ownsClass(b.deviceClass).then((mine) => {
          if (mine) loop.handleBreach(b.deviceClass);
        });
      });
      o.scheduler.add({
        name: 'control-tick',
        schedule: { cron: cronEvery(o.tickSeconds) },
        run: async () => {
          if (!o.ownership) return loop.reconcileOnce();
          const owned: string[] = [];
          for (const c of await o.classes.list()) if (await ownsClass(c.name)) owned.push(c.name);
          return owned.length > 0 ? loop.reconcileOnce(undefined, owned) : [];
        },
      });
      o.logger.info({ tickSeconds: o.tickSeconds }, 'control loop started');
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
      await loop.stop();
    },
  };
}
