/**
 * The control loop's data: what `observe` sees of a class (the snapshot), what the loop
 * remembers between ticks (memory), and what `decide` returns (a decision with actions).
 * Plain data so `decide` stays a pure function and every decision can be stored as JSON.
 */
import type { Budgets } from '@edgefleet/shared';

export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';

/** Budgets the loop watches, in telemetry terms. `sizeBytes` comes from the plan, not telemetry. */
export type ControlBudget = 'latencyP95Ms' | 'powerW' | 'energyPerInferenceMj' | 'minAccuracy';

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
  readonly onFront: boolean;
}

export interface PlanView {
  readonly planId: number;
  readonly modelSha: string;
  readonly recipes: readonly string[];
  /** True when the plan was made with a telemetry correction of the speed model. */
  readonly corrected: boolean;
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

/** What the loop remembers of a class between ticks (persisted with the decisions). */
export interface ControlMemory {
  /** When the class (or its cohort) started breaching, before hysteresis; null: not breaching. */
  readonly breachingSince: number | null;
  readonly episode: {
    readonly id: string;
    readonly startedAt: number;
    readonly changes: number;
    readonly replanned: boolean;
    /** A search for a new model was started in this episode (absent in memories stored before searches existed). */
    readonly searched?: boolean;
    readonly alerted: boolean;
  } | null;
  /** Times of re-deploys (pruned to the last hour). */
  readonly deploys: readonly number[];
  /** Variant sha → when it failed on this class. */
  readonly failed: Readonly<Record<string, number>>;
  /** Kind of the last stored decision, so an unchanged state is not stored every tick. */
  readonly lastKind: DecisionKind | null;
}

export const EMPTY_MEMORY: ControlMemory = Object.freeze({
  breachingSince: null,
  episode: null,
  deploys: [],
  failed: {},
  lastKind: null,
});

export interface ClassSnapshot {
  readonly deviceClass: string;
  readonly at: number;
  readonly budgets: Budgets;
  readonly plan: PlanView | null;
  /** A rollout of this class is in progress. */
  readonly rolloutActive: boolean;
  /** Active devices (a window inside the activity horizon). */
  readonly devices: readonly DeviceObservation[];
  readonly memory: ControlMemory;
}

export type ControlAction =
  | {
      readonly kind: 'rollout';
      readonly id: string;
      readonly deviceClass: string;
      readonly artifactSha: string;
      readonly recipe: string;
      /** null: the whole class; otherwise the cohort's devices. */
      readonly deviceIds: readonly string[] | null;
      readonly cohort: string | null;
      /** Hash of the desired state; `act` skips an action whose hash it already carried out. */
      readonly desiredHash: string;
    }
  | {
      readonly kind: 'replan';
      readonly id: string;
      readonly deviceClass: string;
      readonly modelSha: string;
      readonly ratio: number;
      readonly label: string;
      readonly recipes: readonly string[];
    }
  | {
      /** Make a new model: a bounded hardware-aware search for the class with the corrected speed model. */
      readonly kind: 'search';
      readonly id: string;
      readonly deviceClass: string;
      readonly modelSha: string;
      /** Measured ÷ predicted latency, applied to the class's speed factors during the search. */
      readonly ratio: number;
      readonly label: string;
      readonly timeBudgetMs: number;
      readonly maxEvaluations: number;
    }
  | {
      readonly kind: 'alert';
      readonly id: string;
      readonly deviceClass: string;
      readonly severity: 'warning' | 'critical';
      readonly message: string;
    };

/**
 * healthy: nothing breaches. watching: breaching, inside the hysteresis window. waiting: a
 * rollout is in progress. hold: breaching but a guard (cooldown, cap, episode) forbids a change.
 * deploy / replan / search / alert: the loop acts (search: nothing stored fits even with the
 * corrected speed model, so a new model is searched for). recovered: a breach episode ended.
 */
export const DECISION_KINDS = [
  'healthy',
  'watching',
  'waiting',
  'hold',
  'deploy',
  'replan',
  'search',
  'alert',
  'recovered',
] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** The part of the snapshot a decision is stored with. */
export interface SnapshotSummary {
  readonly activeDevices: number;
  readonly breachingDevices: number;
  readonly throttledDevices: number;
  /** Fraction of active devices breaching, per budget that any device breaches. */
  readonly fractions: Readonly<Partial<Record<ControlBudget, number>>>;
  readonly currentRecipe: string | null;
  readonly currentSha: string | null;
  /** Median measured ÷ predicted p95 of the current variant on the devices judged (null: unknown). */
  readonly latencyRatio: number | null;
  readonly planId: number | null;
}

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
}
