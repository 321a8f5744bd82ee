/**
 * The control loop: observe → decide → act, every tick (the server's `control-tick` task, a
 * cron expression on its scheduler) and at once on a breach event. `reconcileOnce(now)` is the
 * whole cycle for one instant. Reconciles are serialised, so a breach arriving mid-tick waits
 * for the tick rather than deciding on a half-acted state. Nothing in a cycle waits for a search:
 * it runs as a job (plan/search-jobs.ts) and its end is observed by a later cycle.
 */
import type { Logger } from '../log/logger.js';
import type { ActionOutcome, Actor } from './act.js';
import { decide } from './decide.js';
import type { Decision } from './model.js';
import type { Observer } from './observe.js';
import type { ControlPolicy } from './policy.js';

export interface ControlLoopOptions {
  readonly observer: Observer;
  readonly act: Actor;
  readonly policy: ControlPolicy;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface ReconcileResult {
  readonly decision: Decision;
  readonly outcomes: readonly ActionOutcome[];
}

export interface ControlLoop {
  /** One observe → decide → act cycle over every class (or the named ones). */
  reconcileOnce(now?: number, classes?: readonly string[]): Promise<ReconcileResult[]>;
  /** Wakes the loop for a class at once (a breach event); serialised with ticks. */
  handleBreach(deviceClass: string): void;
  /** Resolves once no reconcile is queued or running (virtual-clock scenarios wait for breach wake-ups with it). */
  idle(): Promise<void>;
  /** Waits for the reconcile in flight; no new one starts after this (breach wake-ups are ignored). */
  stop(): Promise<void>;
}

export function createControlLoop(options: ControlLoopOptions): ControlLoop {
  const log = options.logger.child({ component: 'control' });
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const lastAt = new Map<string, number>();
  /**
   * A decision's id is its class and instant, so two decisions of a class never share one: a wake-up at the
   * instant of the last cycle (a search's end on a virtual clock) decides a millisecond later.
   */
  const instantFor = (deviceClass: string, at: number): number => {
    const when = Math.max(at, (lastAt.get(deviceClass) ?? Number.NEGATIVE_INFINITY) + 1);
    lastAt.set(deviceClass, when);
    return when;
  };

  async function cycle(at: number, classes?: readonly string[]): Promise<ReconcileResult[]> {
    const results: ReconcileResult[] = [];
    // Every class is observed before any acts, so one class's actions cannot change what another sees.
    for (const snapshot of await options.observer.observe(at, classes)) {
      const decision = decide(snapshot, options.policy, instantFor(snapshot.deviceClass, at));
      const outcomes = await options.act(decision);
      results.push({ decision, outcomes });
      // A re-plan, or a search that ended, changes what the class can choose: decide again on the new plan now, not
      // a tick later. A search that starts is a job: the class's next decisions wait for it, the others go on.
      const replanned = decision.kind === 'replan' && outcomes.some((o) => o.status === 'done');
      if (replanned || decision.kind === 'searched') {
        for (const again of await options.observer.observe(at, [snapshot.deviceClass])) {
          const next = decide(again, options.policy, instantFor(snapshot.deviceClass, decision.at + 1));
          results.push({ decision: next, outcomes: await options.act(next) });
        }
      }
    }
    return results;
  }

  const reconcileOnce = (at?: number, classes?: readonly string[]): Promise<ReconcileResult[]> => {
    const p = chain.then(() => cycle(at ?? options.now(), classes));
    chain = p.catch((err: unknown) => log.error({ err }, 'control reconcile failed'));
    return p;
  };

  return {
    reconcileOnce,
    handleBreach(deviceClass) {
      if (stopped) return;
      reconcileOnce(undefined, [deviceClass]).catch(() => undefined);
    },
    async idle() {
      // A reconcile may queue another (a breach arriving meanwhile); wait until the chain stops growing.
      for (let seen = chain; ; seen = chain) {
        await seen;
        if (seen === chain) return;
      }
    },
    async stop() {
      stopped = true;
      await chain.catch(() => undefined);
    },
  };
}
