/**
 * The control loop's repository (used by its actor, observer and the decision log): stored
 * decisions and what the loop remembers per class.
 */
import type { DecisionView, DeepReadonly } from '@edgefleet/shared';
import type { ControlMemory } from '../control/model.js';

/** A stored decision: the shared decision view (shared/src/api/decisions.ts). */
export type DecisionRow = DeepReadonly<DecisionView>;

export interface ControlStateRow {
  readonly deviceClass: string;
  /** null until the loop first stored its memory of the class (only a desired hash was set). */
  readonly memory: ControlMemory | null;
  /** Hash of the desired state last carried out for the class (act skips a repeat). */
  readonly desiredHash: string | null;
  readonly updatedAt: number;
}

export interface DecisionFilter {
  readonly deviceClass?: string;
  readonly since?: number;
  /** The newest `limit` (default 1000), returned oldest first. */
  readonly limit?: number;
}

export interface ControlRepository {
  /** Stores a decision (a decision id stored before is ignored) and the class's memory, atomically. */
  record(
    decision: Omit<DecisionRow, 'outcome'> | null,
    state: { readonly deviceClass: string; readonly memory: ControlMemory; readonly updatedAt: number },
  ): Promise<void>;
  setOutcome(decisionId: string, outcome: NonNullable<DecisionRow['outcome']>): Promise<void>;
  setDesiredHash(deviceClass: string, hash: string, at: number): Promise<void>;
  state(deviceClass: string): Promise<ControlStateRow | null>;
  /** Decisions of a class (every class when omitted), oldest first. */
  decisions(filter?: DecisionFilter): Promise<DecisionRow[]>;
  /** How many decisions are stored, by kind. */
  countByKind(): Promise<Record<string, number>>;
}
