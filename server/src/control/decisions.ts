/** Reading the decision log (for `edgefleet decisions CLASS` and the admin API). */
import type { ControlRepository, DecisionFilter, DecisionRow } from '../store/control.js';

/**
 * A decision as the log keeps it: what was decided (without the loop's memory) and what act
 * did with each action. Its schema is the API's (shared/src/api/decisions.ts); the store
 * decodes every row with it.
 */
export type StoredDecision = DecisionRow;

/** Stored decisions of a class (every class when omitted), oldest first. */
export function listDecisions(
  control: Pick<ControlRepository, 'decisions'>,
  filter: DecisionFilter = {},
): Promise<StoredDecision[]> {
  return control.decisions(filter);
}
