/**
 * The loop's story of a class as data: decisions and the class's rollouts on one time line,
 * cut into episodes (a breach from first sight to recovery, and the quiet stretches between).
 * Pure, so the console's unit tests can check it.
 */
import type { Decision, RolloutRecord } from '../api/endpoints.js';

export type Entry =
  | { readonly kind: 'decision'; readonly at: number; readonly decision: Decision }
  | {
      readonly kind: 'rollout-start' | 'rollout-end';
      readonly at: number;
      readonly rollout: RolloutRecord;
      readonly byLoop: boolean;
    };

export interface Episode {
  readonly breach: boolean;
  readonly entries: Entry[];
}

const BREACH_KINDS = new Set(['watching', 'hold', 'deploy', 'replan', 'search', 'searched', 'alert', 'waiting']);

/** Rollout ids the loop started, from its decisions' outcomes. */
function loopRollouts(decisions: readonly Decision[]): Set<string> {
  const ids = new Set<string>();
  for (const d of decisions)
    for (const o of Array.isArray(d.outcome) ? d.outcome : [])
      if (o && typeof o === 'object' && typeof (o as { rolloutId?: unknown }).rolloutId === 'string')
        ids.add((o as { rolloutId: string }).rolloutId);
  return ids;
}

export function buildEpisodes(decisions: readonly Decision[], rollouts: readonly RolloutRecord[]): Episode[] {
  const byLoop = loopRollouts(decisions);
  const entries: Entry[] = [
    ...decisions.map((d) => ({ kind: 'decision' as const, at: d.at, decision: d })),
    ...rollouts.map((r) => ({ kind: 'rollout-start' as const, at: r.createdAt, rollout: r, byLoop: byLoop.has(r.id) })),
    ...rollouts.flatMap((r) =>
      r.finishedAt === null
        ? []
        : [{ kind: 'rollout-end' as const, at: r.finishedAt, rollout: r, byLoop: byLoop.has(r.id) }],
    ),
  ].sort((a, b) => a.at - b.at);
  const episodes: Episode[] = [];
  let current: Episode | null = null;
  for (const e of entries) {
    const breachKind = e.kind === 'decision' && BREACH_KINDS.has(e.decision.kind);
    if (!current || (breachKind && !current.breach)) {
      current = { breach: breachKind, entries: [] };
      episodes.push(current);
    }
    current.entries.push(e);
    // A recovery closes the episode: what follows is quiet again.
    if (e.kind === 'decision' && e.decision.kind === 'recovered') current = null;
  }
  return episodes.reverse();
}
