/** Every rollout, the ones under way first, live through the rollout events. */
import type { RolloutRecord } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { href } from '../router.js';

const ACTIVE = new Set(['in-progress', 'rolling-back']);

function RolloutTable({ rollouts, caption }: { rollouts: readonly RolloutRecord[]; caption: string }) {
  return (
    <table class="table" data-testid="rollout-table">
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rollout</th>
          <th scope="col">Class</th>
          <th scope="col">Variant</th>
          <th scope="col">State</th>
          <th scope="col" class="num">
            Wave
          </th>
          <th scope="col">Started</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {rollouts.map((r) => (
          <tr key={r.id}>
            <th scope="row">
              <a href={href.rollout(r.id)}>{r.id}</a>
            </th>
            <td>{r.deviceClass}</td>
            <td>
              <code>{r.variantId}</code>
            </td>
            <td>
              <StateBadge state={r.state} />
              {r.reason ? <span class="muted"> {r.reason}</span> : null}
            </td>
            <td class="num">
              {Math.min(r.currentWave + 1, r.waveCount)} of {r.waveCount}
            </td>
            <td>
              <Time at={r.createdAt} />
            </td>
            <td>
              <Time at={r.finishedAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RolloutsPage() {
  const { api } = useApp();
  const rollouts = useLoad(() => api.rollouts(), [], {
    everyMs: 5000,
    refreshOn: (e) => e.event.type.startsWith('rollout.'),
  });
  const all = [...(rollouts.data ?? [])].reverse();
  const active = all.filter((r) => ACTIVE.has(r.state));
  const done = all.filter((r) => !ACTIVE.has(r.state));
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Rollouts">
        <p class="lede">Start one from a variant on the Models &amp; plans page.</p>
      </PageHeader>
      <ErrorNotice error={rollouts.error} what="rollouts" />
      {rollouts.loading ? <Loading what="rollouts" /> : null}
      {rollouts.data && all.length === 0 ? <Empty>No rollouts yet.</Empty> : null}
      {active.length > 0 ? <RolloutTable rollouts={active} caption="Under way" /> : null}
      {done.length > 0 ? <RolloutTable rollouts={done} caption="Finished, newest first" /> : null}
    </section>
  );
}
