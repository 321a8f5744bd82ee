/**
 * The control loop: observe → decide → act, every tick (a named node-cron task with
 * noOverlap) and at once on a breach event. `reconcileOnce(now)` is the whole cycle for one
 * instant, which tests drive with a virtual clock. Reconciles are serialised, so a breach
 * arriving mid-tick waits for the tick rather than deciding on a half-acted state.
 */
import cron, { type ScheduledTask } from 'node-cron';
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
  /** Seconds between ticks (1–3600). Default 30. */
  readonly tickSeconds?: number;
  /** Name of the cron task. Default `edgefleet-control`. */
  readonly taskName?: string;
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
  start(): void;
  stop(): Promise<void>;
}

/** A cron expression that fires every `s` seconds (seconds field when under a minute). */
export function cronEvery(s: number): string {
  if (!Number.isInteger(s) || s < 1 || s > 3600)
    throw new RangeError(`tickSeconds must be an integer from 1 to 3600, got ${s}`);
  if (s < 60) return `*/${s} * * * * *`;
  return `0 */${Math.max(1, Math.round(s / 60))} * * * *`;
}

export function createControlLoop(options: ControlLoopOptions): ControlLoop {
  const log = options.logger.child({ component: 'control' });
  let chain: Promise<unknown> = Promise.resolve();
  let task: ScheduledTask | null = null;

  async function cycle(at: number, classes?: readonly string[]): Promise<ReconcileResult[]> {
    const results: ReconcileResult[] = [];
    for (const snapshot of options.observer.observe(at, classes)) {
      const decision = decide(snapshot, options.policy, at);
      const outcomes = await options.act(decision);
      results.push({ decision, outcomes });
      // A re-plan or a search changes what the class can choose: decide again on the new plan now, not a tick later.
      if ((decision.kind === 'replan' || decision.kind === 'search') && outcomes.some((o) => o.status === 'done')) {
        for (const again of options.observer.observe(at, [snapshot.deviceClass])) {
          const next = decide(again, options.policy, at + 1);
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
      reconcileOnce(undefined, [deviceClass]).catch(() => undefined);
    },
    async idle() {
      // A reconcile may queue another (a breach arriving meanwhile); wait until the chain stops growing.
      for (let seen = chain; ; seen = chain) {
        await seen;
        if (seen === chain) return;
      }
    },
    start() {
      if (task) return;
      task = cron.schedule(
        cronEvery(options.tickSeconds ?? 30),
        async () => {
          await reconcileOnce().catch(() => undefined);
        },
        { name: options.taskName ?? 'edgefleet-control', noOverlap: true },
      );
      log.info({ tickSeconds: options.tickSeconds ?? 30 }, 'control loop started');
    },
    async stop() {
      if (task) {
        await task.destroy();
        task = null;
      }
      await chain.catch(() => undefined);
    },
  };
}
