/**
 * `act(decision)`: stores the decision and the class's memory, then carries out its actions.
 * Idempotent: a rollout whose desired-state hash equals the last one carried out for the
 * class is skipped (a repeated breach trigger, or a restart between act and the next tick,
 * never starts a second rollout of the same variant). Errors are stored as the outcome and
 * logged; they never escape into the scheduler.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  asError,
  stripUndefined,
  type actionOutcomeSchema,
  type DeepReadonly,
  type GoldenSet,
  type ManifestBody,
} from '@edgefleet/shared';
import type { z } from 'zod';
import type { RolloutService } from '../deploy/rollout-service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { Planner } from '../plan/planner.js';
import type { ArtifactRepository } from '../store/artifacts.js';
import type { ControlRepository } from '../store/control.js';
import type { PlanRepository } from '../store/plans.js';
import type { VariantRepository } from '../store/variants.js';
import { budgetsFromClass } from '../telemetry/budget-status.js';
import type { ControlAction, ControlMemory, Decision, ObservedSearch } from './model.js';

/** What one action led to, stored with the decision (shared/src/api/decisions.ts). */
export type ActionOutcome = DeepReadonly<z.infer<typeof actionOutcomeSchema>>;

export interface ActOptions {
  readonly control: Omit<ControlRepository, 'decisions'>;
  readonly plans: Pick<PlanRepository, 'list'>;
  readonly variants: Pick<VariantRepository, 'findByArtifact'>;
  readonly artifacts: Pick<ArtifactRepository, 'get'>;
  readonly rollouts: RolloutService;
  readonly planner: Planner;
  readonly logger: Logger;
  readonly events?: EventBus;
  /** Golden set sent with a rollout of the class (the agent checks the variant against it). */
  readonly goldenFor: (deviceClass: string) => Promise<GoldenSet>;
  /** Where the planner's variants live (their paths are relative to it). */
  readonly dataDir: string;
  readonly now: () => number;
  /**
   * Queues a bounded hardware-aware search for a class, whose finalist becomes choosable (a variant
   * on a new plan of the class) when it ends. Unset: search actions are skipped.
   */
  readonly searcher?: ClassSearcher;
}

/** What a search action needs from the server (see server-control.ts): the action without its kind and id. */
export type SearchRequest = Omit<Extract<ControlAction, { kind: 'search' }>, 'kind' | 'id'>;

/** Starts searches as jobs (resolves once queued, not when done) and tells how one stands. */
export interface ClassSearcher {
  start(request: SearchRequest): Promise<{ readonly searchId: string }>;
  observe(searchId: string): ObservedSearch;
}

export type Actor = (decision: Decision) => Promise<ActionOutcome[]>;

/** Manifest budgets of a class (its latest plan's), in telemetry units, for the agent's watcher. */
async function manifestBudgets(
  plans: ActOptions['plans'],
  deviceClass: string,
): Promise<NonNullable<ManifestBody['budgets']> | undefined> {
  const row = (await plans.list({ deviceClass })).at(-1);
  if (!row) return undefined;
  const t = budgetsFromClass(row.plan.budgets);
  return stripUndefined({ latencyP95Ms: t.latencyP95Ms, powerW: t.powerW, minAccuracy: t.minAccuracy });
}

export function createActor(options: ActOptions): Actor {
  const { control, logger: log } = options;

  async function artifactOf(sha: string): Promise<{ sha256: string } | { bytes: Uint8Array }> {
    if (await options.artifacts.get(sha)) return { sha256: sha };
    const row = await options.variants.findByArtifact(sha);
    if (!row?.artifactPath)
      throw new Error(`variant ${sha.slice(0, 12)} is neither in the artifact store nor among the planner's variants`);
    return { bytes: await readFile(join(options.dataDir, row.artifactPath)) };
  }

  async function rememberSearch(decision: Decision, searchId: string | null): Promise<void> {
    const pending = decision.memory.search;
    const memory: ControlMemory = {
      ...decision.memory,
      search: pending && searchId !== null ? { ...pending, id: searchId } : null,
    };
    await control.record(null, { deviceClass: decision.deviceClass, memory, updatedAt: decision.at });
  }

  /** The re-plan is over (stored or failed): the class's memory no longer names it as pending. */
  async function endReplan(decision: Decision): Promise<void> {
    const memory: ControlMemory = { ...decision.memory, replan: null };
    await control.record(null, { deviceClass: decision.deviceClass, memory, updatedAt: decision.at });
  }

  async function run(decision: Decision, action: ControlAction): Promise<ActionOutcome> {
    if (action.kind === 'alert') {
      log.warn({ deviceClass: action.deviceClass, decisionId: decision.id }, action.message);
      options.events?.publish({
        type: 'control.alert',
        decisionId: decision.id,
        deviceClass: action.deviceClass,
        severity: action.severity,
        message: action.message,
      });
      return { action: action.id, status: 'done' };
    }
    if (action.kind === 'replan') {
      const stored = await options.planner.plan({
        model: action.modelSha,
        deviceClass: action.deviceClass,
        recipes: action.recipes,
        speedModelOverride: { ratio: action.ratio, label: action.label },
      });
      await endReplan(decision);
      return { action: action.id, status: 'done', planId: stored.id, chosen: stored.plan.chosen };
    }
    if (action.kind === 'search') {
      if (!options.searcher) {
        await rememberSearch(decision, null);
        return { action: action.id, status: 'skipped', why: 'no searcher is configured on this server' };
      }
      const { kind: _kind, id: _id, ...request } = action;
      const { searchId } = await options.searcher.start(request);
      // The class's memory names the job, so later cycles (and a restarted server) can see how it stands.
      await rememberSearch(decision, searchId);
      return { action: action.id, status: 'started', searchId };
    }
    if ((await control.state(action.deviceClass))?.desiredHash === action.desiredHash)
      return { action: action.id, status: 'skipped', why: 'this desired state was already carried out' };
    const budgets = await manifestBudgets(options.plans, action.deviceClass);
    const status = await options.rollouts.start({
      deviceClass: action.deviceClass,
      artifact: await artifactOf(action.artifactSha),
      variantId: `v-${action.recipe.replace(/[^A-Za-z0-9_.:@-]/g, '-').slice(0, 40)}-${action.artifactSha.slice(0, 8)}`,
      golden: await options.goldenFor(action.deviceClass),
      ...stripUndefined({ budgets }),
      ...(action.deviceIds === null ? {} : { deviceIds: action.deviceIds }),
    });
    await control.setDesiredHash(action.deviceClass, action.desiredHash, options.now());
    return { action: action.id, status: 'done', rolloutId: status.rollout.id };
  }

  return async (decision) => {
    await control.record(
      decision.record
        ? {
            id: decision.id,
            deviceClass: decision.deviceClass,
            at: decision.at,
            kind: decision.kind,
            reason: decision.reason,
            budgets: decision.budgets,
            summary: decision.summary,
            actions: decision.actions,
          }
        : null,
      { deviceClass: decision.deviceClass, memory: decision.memory, updatedAt: decision.at },
    );
    if (decision.record) {
      log.info({ deviceClass: decision.deviceClass, kind: decision.kind, decisionId: decision.id }, decision.reason);
      options.events?.publish({
        type: 'control.decision',
        decisionId: decision.id,
        deviceClass: decision.deviceClass,
        kind: decision.kind,
        reason: decision.reason,
      });
    }
    const lost = decision.lostReplan;
    // The lost re-plan's decision would otherwise show no outcome forever.
    if (lost)
      await control.setOutcome(lost.decisionId, [
        {
          action: lost.actionId,
          status: 'error',
          error: `lost: the server running it stopped before the plan was stored (seen by ${decision.id})`,
        },
      ]);
    const outcomes: ActionOutcome[] = [];
    for (const action of decision.actions) {
      try {
        outcomes.push(await run(decision, action));
      } catch (err: unknown) {
        log.error({ err, action }, 'control action failed');
        outcomes.push({ action: action.id, status: 'error', error: asError(err).message });
        // A search that could not start is not pending: the decision's outcome says why.
        if (action.kind === 'search') await rememberSearch(decision, null);
        if (action.kind === 'replan') await endReplan(decision);
      }
    }
    if (outcomes.length > 0) await control.setOutcome(decision.id, outcomes);
    return outcomes;
  };
}
