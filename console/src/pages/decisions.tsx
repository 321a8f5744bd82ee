/**
 * The control loop's story per class: its stored decisions (breach watched, decision and
 * reason, holds, recovery) interleaved with the class's rollouts, grouped into episodes.
 * Episodes are listed newest first; inside one, entries read in order, as a story does.
 */
import type { Decision } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { BUDGET_LABELS } from '../format.js';
import { href, navigate } from '../router.js';
import { buildEpisodes, type Entry } from './decision-story.js';

const TITLES: Readonly<Record<string, string>> = {
  healthy: 'Healthy',
  watching: 'Breach seen: watching it through the hysteresis',
  waiting: 'Waiting for a rollout to finish',
  hold: 'Holding: a guard forbids another change',
  deploy: 'Decision: deploy another variant',
  replan: 'Decision: re-plan with a corrected latency model',
  alert: 'Alert: nothing fits',
  recovered: 'Recovered: back within budget',
};

function DecisionDetails({ d }: { d: Decision }) {
  const s = d.summary as {
    activeDevices?: number;
    breachingDevices?: number;
    throttledDevices?: number;
    fractions?: Record<string, number>;
    currentRecipe?: string | null;
    latencyRatio?: number | null;
  };
  const fractions = Object.entries(s.fractions ?? {})
    .map(([b, f]) => `${BUDGET_LABELS[b] ?? b} ${Math.round(f * 100)} %`)
    .join(', ');
  const outcomes = Array.isArray(d.outcome) ? (d.outcome as Array<Record<string, unknown>>) : [];
  return (
    <>
      <p class="reason">{d.reason}</p>
      <p class="muted">
        {s.activeDevices ?? 0} active, {s.breachingDevices ?? 0} breaching{fractions ? ` (${fractions})` : ''},{' '}
        {s.throttledDevices ?? 0} throttled; running {s.currentRecipe ?? 'unknown'}
        {s.latencyRatio ? `, measured ÷ predicted latency ${s.latencyRatio.toFixed(2)}` : ''}
      </p>
      {d.actions.length > 0 ? (
        <ul class="plain actions">
          {d.actions.map((a, i) => {
            const o = outcomes[i] ?? {};
            const rolloutId = typeof o['rolloutId'] === 'string' ? o['rolloutId'] : null;
            return (
              <li key={String(a['id'] ?? i)}>
                Action <strong>{a.kind}</strong>
                {a.kind === 'rollout' ? ` → ${a.recipe}` : ''}
                {typeof o['status'] === 'string' ? `: ${o['status']}` : ''}
                {rolloutId ? (
                  <>
                    {' '}
                    (<a href={href.rollout(rolloutId)}>{rolloutId}</a>)
                  </>
                ) : null}
                {typeof o['error'] === 'string' ? <span class="failure"> {o['error']}</span> : null}
              </li>
            );
          })}
        </ul>
      ) : null}
    </>
  );
}

function EntryItem({ entry }: { entry: Entry }) {
  if (entry.kind === 'decision') {
    const d = entry.decision;
    return (
      <li class={`tl-item tl-${d.kind}`} data-testid="timeline-decision" data-kind={d.kind}>
        <span class="tl-dot" aria-hidden="true" />
        <div class="tl-body">
          <p class="tl-head">
            <Time at={d.at} /> <StateBadge state={d.kind} /> <strong>{TITLES[d.kind] ?? d.kind}</strong>
          </p>
          <DecisionDetails d={d} />
        </div>
      </li>
    );
  }
  const r = entry.rollout;
  const start = entry.kind === 'rollout-start';
  return (
    <li class="tl-item tl-rollout" data-testid="timeline-rollout">
      <span class="tl-dot" aria-hidden="true" />
      <div class="tl-body">
        <p class="tl-head">
          <Time at={entry.at} /> {start ? null : <StateBadge state={r.state} />}{' '}
          <strong>
            Rollout of <code>{r.variantId}</code> {start ? `started${entry.byLoop ? ' by the loop' : ''}` : r.state}
          </strong>
        </p>
        <p class="muted">
          <a href={href.rollout(r.id)}>{r.id}</a>
          {!start && r.reason ? `: ${r.reason}` : ''}
        </p>
      </div>
    </li>
  );
}

export function DecisionsPage({ deviceClass }: { deviceClass: string | null }) {
  const { api } = useApp();
  const classes = useLoad(() => api.classes(), []);
  const names = (classes.data?.classes ?? []).map((c) => c.name);
  const cls = deviceClass ?? names[0] ?? null;
  const story = useLoad(
    async () =>
      cls ? { decisions: await api.decisions(cls), rollouts: await api.rollouts({ deviceClass: cls }) } : null,
    [cls],
    { everyMs: 10_000, refreshOn: (e) => e.event.type.startsWith('control.') || e.event.type.startsWith('rollout.') },
  );
  const episodes = story.data ? buildEpisodes(story.data.decisions, story.data.rollouts) : [];
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Decisions">
        <label class="field field-inline">
          <span>Class</span>
          <select value={cls ?? ''} onChange={(e) => navigate(href.decisions((e.target as HTMLSelectElement).value))}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      <p class="lede">
        What the control loop saw, why it acted and what came of it. Newest episode first; each reads from top to
        bottom.
      </p>
      <ErrorNotice error={classes.error ?? story.error} what="decisions" />
      {story.loading ? <Loading what="decisions" /> : null}
      {story.data && episodes.length === 0 ? <Empty>Nothing has happened on {cls} yet.</Empty> : null}
      {episodes.map((ep) => {
        const first = ep.entries[0]?.at ?? 0;
        const last = ep.entries.at(-1);
        const recovered = last?.kind === 'decision' && last.decision.kind === 'recovered';
        return (
          <section
            key={first}
            class={`episode ${ep.breach ? 'episode-breach' : 'episode-quiet'}`}
            aria-label={`Episode from ${new Date(first).toLocaleTimeString()}`}
          >
            <h2 class="episode-title">
              {ep.breach ? (recovered ? 'Breach, answered and recovered' : 'Breach under way') : 'Quiet'}{' '}
              <span class="muted">
                from <Time at={first} />
              </span>
            </h2>
            <ol class="timeline">
              {ep.entries.map((e) => (
                <EntryItem
                  key={`${e.kind}-${e.at}-${e.kind === 'decision' ? e.decision.id : e.rollout.id}`}
                  entry={e}
                />
              ))}
            </ol>
          </section>
        );
      })}
    </section>
  );
}
