/** Reading the decision log (for `edgefleet decisions CLASS` and the admin API). */
import type { Store } from '../store/sqlite/open.js';
import type { ControlAction, ControlBudget, Decision, DecisionKind, SnapshotSummary } from './model.js';

/** A decision as the log keeps it: what was decided, without the loop's memory, plus what act did. */
export interface StoredDecision extends Omit<Decision, 'memory' | 'record'> {
  /** What act did with each action (null: no action). */
  readonly outcome: unknown;
}

/** Stored decisions of a class (every class when omitted), oldest first. */
export function listDecisions(
  store: Store,
  filter: { deviceClass?: string; since?: number; limit?: number } = {},
): StoredDecision[] {
  return store.control.decisions(filter).map((r) => ({
    id: r.id,
    deviceClass: r.deviceClass,
    at: r.at,
    kind: r.kind as DecisionKind,
    reason: r.reason,
    budgets: r.budgets as ControlBudget[],
    summary: r.summary as SnapshotSummary,
    actions: r.actions as ControlAction[],
    outcome: r.outcome,
  }));
}
