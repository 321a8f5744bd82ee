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
import type { ObservedSearch } from './model.js';
import { SEARCHED_PREFIX } from '../plan/candidates.js';
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

/**
 * The loop's searcher over search jobs: queue the search and return at once; `onEnd` runs when the
 * job is done or failed (the server wakes the class's loop with it, so the end is acted on now).
 */
export function searcherOf(
  searches: SearchJobs,
  onEnd: (deviceClass: string) => void = () => undefined,
): ClassSearcher {
  return {
    async start(req) {
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
      void searches.wait(started.id).then(
        () => onEnd(req.deviceClass),
        () => onEnd(req.deviceClass),
      );
      return { searchId: started.id };
    },
    observe: (id) => observeSearch(searches, id),
  };
}

/** A search job as the loop sees it; `lost` when this server has no job of that id (it restarted). */
export function observeSearch(searches: Pick<SearchJobs, 'list'>, id: string): ObservedSearch {
  const job = searches.list().find((j) => j.id === id);
  if (!job) return { id, state: 'lost', finalist: null, planId: null, detail: null };
  const f = job.result?.finalist ?? null;
  const p = job.progress;
  return {
    id,
    state: job.state,
    finalist:
      f === null
        ? null
        : `${SEARCHED_PREFIX}${id} (${f.artifactSha?.slice(0, 12) ?? 'not stored'}` +
          `${f.cut ? '; its training was cut short by the time budget' : ''})`,
    planId: f?.planId ?? null,
    detail:
      job.state === 'failed'
        ? `${job.error?.code ?? ''} ${job.error?.message ?? ''}`.trim()
        : p
          ? `${p.evaluations} of ${p.maxEvaluations} candidates evaluated`
          : null,
  };
}

export function createServerControl(o: ServerControlOptions): ServerControl {
  const { repos } = o;
  // A search's end wakes its class's loop (through `wake`, set once the loop exists), not the next tick.
  let wake: (deviceClass: string) => void = () => undefined;
  const searcher = o.searches ? searcherOf(o.searches, (c) => wake(c)) : undefined;
  const observer = createObserver({
    classes: o.classes,
    plans: repos.plans,
    telemetry: repos.telemetry,
    rollouts: repos.rollouts,
    desired: repos.desired,
    control: repos.control,
    ...(searcher ? { searches: searcher } : {}),
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
    ...(searcher ? { searcher } : {}),
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
  wake = (deviceClass) => loop.handleBreach(deviceClass);
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
