/**
 * The control loop's data: what `observe` sees of a class (the snapshot), what the loop
 * remembers between ticks (memory), and what `decide` returns (a decision with actions).
 * Plain data so `decide` stays a pure function and every decision can be stored as JSON.
 */
import { z } from 'zod';
import type { Limits } from '../plan/select.js';
import {
  decisionKindSchema,
  type Budgets,
  type ControlBudget,
  type controlActionSchema,
  type DecisionKind,
  type DeepReadonly,
  type snapshotSummarySchema,
} from '@edgefleet/shared';

export { DECISION_KINDS, type ControlBudget, type DecisionKind } from '@edgefleet/shared';

export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';

/** One candidate of the class's plan, with the planner's predictions (modelled, never measured). */
export interface PlanMember {
  readonly recipe: string;
  readonly precision: Precision;
  readonly artifactSha: string;
  readonly bytes: number;
  /** Host-measured accuracy of the variant, percent (null: unknown). */
  readonly accuracyPct: number | null;
  readonly predictedP95Ms: number;
  readonly predictedPowerW: number;
  readonly predictedEnergyMj: number;
  /** Estimated peak memory on the host, bytes (null: not measured, e.g. a plan stored before it was). */
  readonly peakMemoryBytes: number | null;
  readonly onFront: boolean;
}

export interface PlanView {
  readonly planId: number;
  readonly modelSha: string;
  readonly recipes: readonly string[];
  /** True when the plan was made with a telemetry correction of the speed model. */
  readonly corrected: boolean;
  /** The ratio the plan's speed model was corrected by (1: none); predictions already include it. */
  readonly correction: number;
  /** Accuracy of the original model, percent (the base of `maxAccuracyDropPts`); null: unknown. */
  readonly baselinePct: number | null;
  /** Eligible candidates with predictions (front members flagged). */
  readonly members: readonly PlanMember[];
}

/** One active device as telemetry shows it, over windows of the variant it serves now. */
export interface DeviceObservation {
  readonly deviceId: string;
  readonly variantSha: string | null;
  /** Budgets this device breaches (k of its last n windows). */
  readonly breaches: readonly ControlBudget[];
  readonly throttled: boolean;
  readonly p95Ms: number | null;
  readonly powerW: number | null;
  readonly energyMj: number | null;
  /** Golden-set accuracy 0..1. */
  readonly accuracy: number | null;
}

/** What the loop remembers of a class between ticks (persisted with the decisions; the store decodes it with this). */
export const controlMemorySchema = z.object({
  /** When the class (or its cohort) started breaching, before hysteresis; null: not breaching. */
  breachingSince: z.number().nullable(),
  episode: z
    .object({
      id: z.string(),
      startedAt: z.number(),
      changes: z.number().int().nonnegative(),
      replanned: z.boolean(),
      /** A search for a new model was started in this episode (absent in memories stored before searches existed). */
      searched: z.boolean().optional(),
      /** A search of this episode was lost to a server restart and started again (at most once per episode). */
      searchRerun: z.boolean().optional(),
      /** A re-plan of this episode was lost (its server stopped mid-plan) and issued again (at most once). */
      replanRerun: z.boolean().optional(),
      alerted: z.boolean(),
    })
    .nullable(),
  /** Times of re-deploys (pruned to the last hour). */
  deploys: z.array(z.number()),
  /** Variant sha → when it failed on this class. */
  failed: z.record(z.string(), z.number()),
  /** Kind of the last stored decision, so an unchanged state is not stored every tick. */
  lastKind: decisionKindSchema.nullable(),
  /**
   * The devices' standing correction: measured ÷ predicted p95 of the variant they served while no
   * device breached, against the class's own speed model (a plan's telemetry correction divided
   * out), from the last such decision. Absent: not learned yet.
   */
  standing: z.object({ ratio: z.number().positive(), variantSha: z.string(), at: z.number() }).nullable().optional(),
  /**
   * The search the loop started for the class and has not seen end (absent: none). `id` is the
   * search job's, set by act once the job is queued (null: the server stopped before it was).
   */
  search: z.object({ id: z.string().nullable(), decisionId: z.string(), startedAt: z.number() }).nullable().optional(),
  /**
   * The re-plan act is carrying out (absent or null: none). act clears it once the plan is stored
   * or failed; a later decision that still finds it knows the server running it stopped mid-plan.
   */
  replan: z.object({ decisionId: z.string(), actionId: z.string(), startedAt: z.number() }).nullable().optional(),
});
export type ControlMemory = DeepReadonly<z.infer<typeof controlMemorySchema>>;

export const EMPTY_MEMORY: ControlMemory = Object.freeze({
  breachingSince: null,
  episode: null,
  deploys: [],
  failed: {},
  lastKind: null,
});

/** The state of the class's pending search (memory.search) as the server's search jobs know it. */
export interface ObservedSearch {
  readonly id: string | null;
  /** lost: no job of that id exists (the server restarted while it ran, or it never started). */
  readonly state: 'queued' | 'running' | 'done' | 'failed' | 'lost';
  /** done: the finalist's recipe and the plan that includes it (null: the search found none). */
  readonly finalist: string | null;
  readonly planId: number | null;
  /** failed: the job's error; queued/running: its progress, in words. */
  readonly detail: string | null;
}

export interface ClassSnapshot {
  readonly deviceClass: string;
  readonly at: number;
  readonly budgets: Budgets;
  /** The class's hard limits (memory and storage), as the planner judges them. */
  readonly limits: Limits;
  readonly plan: PlanView | null;
  /** A rollout of this class is in progress. */
  readonly rolloutActive: boolean;
  /** Active devices (a window inside the activity horizon). */
  readonly devices: readonly DeviceObservation[];
  readonly memory: ControlMemory;
  /** The pending search of memory.search, observed (null: none pending). */
  readonly search?: ObservedSearch | null;
}

/**
 * A rollout, a re-plan, a search or an alert; the schema (and what each field means) is shared/src/api/decisions.ts.
 */
export type ControlAction = DeepReadonly<z.infer<typeof controlActionSchema>>;

/** The part of the snapshot a decision is stored with (shared/src/api/decisions.ts). */
export type SnapshotSummary = DeepReadonly<z.infer<typeof snapshotSummarySchema>>;

export interface Decision {
  /** Deterministic: class and time. */
  readonly id: string;
  readonly deviceClass: string;
  readonly at: number;
  readonly kind: DecisionKind;
  readonly reason: string;
  readonly budgets: readonly ControlBudget[];
  readonly summary: SnapshotSummary;
  readonly actions: readonly ControlAction[];
  /** Memory after this decision. */
  readonly memory: ControlMemory;
  /** Worth storing: it acts, or its kind differs from the last stored one. */
  readonly record: boolean;
  /** A re-plan found unfinished in the memory (its server stopped): act stores it as lost. */
  readonly lostReplan?: { readonly decisionId: string; readonly actionId: string };
}
