/**
 * The loop's searches run as jobs: `decide` starts one and keeps deciding while it runs. These
 * pure helpers say what a pending search (memory.search, observed as snapshot.search) means for a
 * decision: a `waiting` while it runs and the class breaches, one `searched` decision when it
 * ends (done, failed, or lost to a server restart, which is searched again once per episode).
 */
import type { ClassSnapshot, ControlMemory, DecisionKind } from './model.js';

export interface SearchDraft {
  kind: DecisionKind;
  reason: string;
  actions: [];
  memory: ControlMemory;
}

/** How the pending search stands, in words, for a `waiting` reason. */
export function searchRunning(s: ClassSnapshot): string | null {
  const pending = s.memory.search;
  if (!pending) return null;
  const state = s.search?.state ?? 'queued';
  const detail = s.search?.detail ? ` (${s.search.detail})` : '';
  return `search ${pending.id ?? '(starting)'} for a new model is ${state}${detail}, started by ${pending.decisionId}`;
}

/** The `searched` decision once the pending search has ended; null while it runs (or none is pending). */
export function searchEnded(s: ClassSnapshot, memory: ControlMemory): SearchDraft | null {
  const pending = memory.search;
  const seen = s.search;
  if (!pending || !seen || seen.state === 'queued' || seen.state === 'running') return null;
  const cleared: ControlMemory = { ...memory, search: null };
  const name = `search ${pending.id ?? '(never queued)'} (started by ${pending.decisionId})`;
  if (seen.state === 'done') {
    const what =
      seen.finalist === null
        ? 'found no model that meets the budgets'
        : `made ${seen.finalist}, a candidate of plan ${seen.planId ?? '?'}`;
    return { kind: 'searched', reason: `${name} ended: done, ${what}`, actions: [], memory: cleared };
  }
  if (seen.state === 'failed')
    return {
      kind: 'searched',
      reason: `${name} ended: failed: ${seen.detail ?? 'no reason given'}`,
      actions: [],
      memory: cleared,
    };
  // Lost: search jobs live in the server's memory, so a restart forgets a running one. Once per episode the loop
  // may search again (the next decision does, when the class still breaches and nothing fits); then it gives up.
  const ep = memory.episode;
  const lost = `${name} ended: lost (no such job: the server restarted while it ran, or before it was queued)`;
  if (ep !== null && ep.searchRerun !== true)
    return {
      kind: 'searched',
      reason: `${lost}; the loop may search again once in this episode`,
      actions: [],
      memory: { ...cleared, episode: { ...ep, searched: false, searchRerun: true } },
    };
  return { kind: 'searched', reason: `${lost}; not searched again`, actions: [], memory: cleared };
}
