/**
 * The control loop as the server runs it: the planner, the observer (fed by flushed telemetry),
 * the actor (rollouts through the server's deployer) and the node-cron loop, plus the wire
 * from telemetry breach events to an immediate reconcile of the breaching class.
 */
import { EdgefleetError, type GoldenSet } from '@edgefleet/shared';
import type { RolloutService } from '../deploy/rollout-service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import { createPlanner, type Planner } from '../plan/planner.js';
import type { SearchJobs } from '../plan/search-jobs.js';
import type { Store } from '../store/db.js';
import type { TelemetryService } from '../telemetry/telemetry-service.js';
import { createActor, type ClassSearcher } from './act.js';
import { createControlLoop, type ControlLoop } from './loop.js';
import { createObserver } from './observe.js';
import type { ControlPolicy } from './policy.js';

export interface ServerControlOptions {
  readonly store: Store;
  readonly rollouts: RolloutService;
  readonly telemetry: TelemetryService;
  readonly dataDir: string;
  readonly policy: ControlPolicy;
  /** Seconds between ticks (1–3600). */
  readonly tickSeconds: number;
  readonly logger: Logger;
  readonly now: () => number;
  readonly events?: EventBus;
  /** A planner to share (e.g. the admin API's); default: one of its own on the store. */
  readonly planner?: Planner;
  /** Runs the loop's `search` actions (policy.search.enabled); unset: they are skipped. */
  readonly searches?: SearchJobs;
  /** Golden set for a loop rollout; default: the one of the class's latest rollout. */
  readonly goldenFor?: (deviceClass: string) => GoldenSet;
}

export interface ServerControl {
  readonly loop: ControlLoop;
  readonly planner: Planner;
  /** Listens to breach events and starts the cron tick (`cron: false`: no timer; the caller drives `loop.reconcileOnce`). */
  start(options?: { readonly cron?: boolean }): void;
  /** Stops listening and the tick; waits for a reconcile in flight. */
  stop(): Promise<void>;
}

/** The golden set the class's devices last checked a variant with, so a loop rollout is judged the same way. */
export function latestGolden(store: Store, deviceClass: string): GoldenSet {
  const last = store.rollouts.listRollouts({ deviceClass }).at(-1);
  if (!last)
    throw new EdgefleetError(
      'EF_ERR_ROLLOUT_INVALID',
      `class ${deviceClass} has had no rollout yet, so the control loop has no golden set for it; start one with \`edgefleet rollout start --class ${deviceClass} --golden FILE\``,
      { deviceClass },
    );
  return last.golden;
}

/** The loop's searcher over search jobs: queue the search and wait for the plan that includes its finalist. */
export function searcherOf(searches: SearchJobs): ClassSearcher {
  return async (req) => {
    const started = searches.start({
      model: req.modelSha,
      class: req.deviceClass,
      evaluations: req.maxEvaluations,
      timeBudgetMs: req.timeBudgetMs,
      ratio: req.ratio,
    });
    const done = await searches.wait(started.id);
    if (done.state === 'failed')
      throw new Error(`search ${done.id} failed: ${done.error?.code ?? ''} ${done.error?.message ?? ''}`);
    const f = done.result?.finalist ?? null;
    return { planId: f?.planId ?? 0, chosen: f?.chosen ?? null };
  };
}

export function createServerControl(o: ServerControlOptions): ServerControl {
  const log = o.logger;
  const planner = o.planner ?? createPlanner({ store: o.store, dataDir: o.dataDir, now: o.now });
  const observer = createObserver({ store: o.store });
  const act = createActor({
    store: o.store,
    rollouts: o.rollouts,
    planner,
    logger: log,
    dataDir: o.dataDir,
    now: o.now,
    goldenFor: o.goldenFor ?? ((c) => latestGolden(o.store, c)),
    ...(o.events ? { events: o.events } : {}),
    ...(o.searches ? { searcher: searcherOf(o.searches) } : {}),
  });
  const loop = createControlLoop({
    // Windows wait up to a batch interval in the ingest buffer; the loop must judge what arrived.
    observer: {
      observe: (at, classes) => {
        o.telemetry.flush();
        return observer.observe(at, classes);
      },
    },
    act,
    policy: o.policy,
    logger: log,
    now: o.now,
    tickSeconds: o.tickSeconds,
  });
  let unsubscribe: (() => void) | null = null;
  return {
    loop,
    planner,
    start(startOptions = {}) {
      if (unsubscribe) return;
      // A breach reported by an agent wakes the loop for that class now, not at the next tick.
      unsubscribe = o.telemetry.onBreach((b) => {
        if (b.state === 'breached') loop.handleBreach(b.deviceClass);
      });
      if (startOptions.cron !== false) loop.start();
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
      await loop.stop();
    },
  };
}
