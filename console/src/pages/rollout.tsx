/**
 * One rollout: its waves filling live, every device's state, and (admin, while it runs) abort,
 * which stops further waves and rolls updated devices back.
 */
import { useState } from 'preact/hooks';
import type { RolloutStatus } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { ConfirmDialog, ErrorNotice, Facts, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { WaveBars, WaveLegend } from '../components/wave-bars.js';
import { shortSha } from '../format.js';
import { href } from '../router.js';
import { asError } from '@edgefleet/shared/errors';

function policySummary(policy: Record<string, unknown>): string {
  const canary = policy['canary'] as { count?: number; percent?: number } | undefined;
  const parts = [
    canary?.count !== undefined
      ? `canary ${canary.count}`
      : canary?.percent !== undefined
        ? `canary ${canary.percent} %`
        : null,
    policy['baseCount'] !== undefined ? `then ${String(policy['baseCount'])}` : null,
    policy['growthFactor'] !== undefined ? `× ${String(policy['growthFactor'])} per wave` : null,
  ];
  return parts.filter((p) => p !== null).join(', ') || 'defaults';
}

function DeviceTable({ status }: { status: RolloutStatus }) {
  return (
    <table class="table" data-testid="rollout-devices">
      <caption>Devices of this rollout</caption>
      <thead>
        <tr>
          <th scope="col">Device</th>
          <th scope="col" class="num">
            Wave
          </th>
          <th scope="col">State</th>
          <th scope="col">Agent says</th>
          <th scope="col">Before</th>
          <th scope="col">Notified</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {status.devices.map((d) => (
          <tr key={d.deviceId}>
            <th scope="row">
              <a href={href.device(d.deviceId)}>{d.deviceId}</a>
            </th>
            <td class="num">{d.wave + 1}</td>
            <td>
              <StateBadge state={d.state} />
              {d.failure ? (
                <span class="failure">
                  {' '}
                  {d.failure.step}: {d.failure.reason}
                </span>
              ) : null}
            </td>
            <td>{d.agentState ?? '–'}</td>
            <td>
              <code>{d.previous?.variantId ?? '–'}</code>
            </td>
            <td>
              <Time at={d.notifiedAt} />
            </td>
            <td>
              <Time at={d.finishedAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RolloutPage({ id }: { id: string }) {
  const { api, canChange } = useApp();
  const [fast, setFast] = useState(true);
  const status = useLoad(
    async () => {
      const s = await api.rollout(id);
      setFast(s.rollout.state === 'in-progress' || s.rollout.state === 'rolling-back');
      return s;
    },
    [id],
    {
      everyMs: fast ? 1000 : 10_000,
      refreshOn: (e) => 'rolloutId' in e.event && e.event.rolloutId === id,
    },
  );
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const s = status.data;
  const running = s?.rollout.state === 'in-progress';
  return (
    <section aria-labelledby="page-title">
      <PageHeader
        title={
          <>
            <span class="muted">Rollout</span> {id}
          </>
        }
      >
        {s ? <StateBadge state={s.rollout.state} /> : null}
        {canChange && running ? (
          <button type="button" class="button button-danger" onClick={() => setConfirming(true)}>
            Abort rollout…
          </button>
        ) : null}
      </PageHeader>
      <ErrorNotice error={status.error} what="the rollout" />
      {error ? (
        <p class="notice notice-error" role="alert">
          {error}
        </p>
      ) : null}
      {status.loading ? <Loading what="the rollout" /> : null}
      {s ? (
        <>
          <p class="lede" role="status" data-testid="rollout-progress">
            {s.rollout.state === 'completed'
              ? `Completed: all ${s.waves.length} waves, ${s.devices.filter((d) => d.state === 'succeeded').length} ` +
                `of ${s.devices.length} devices updated.`
              : s.rollout.state === 'in-progress'
                ? `Wave ${s.rollout.currentWave + 1} of ${s.rollout.waveCount} under way.`
                : `${s.rollout.state === 'aborted' ? 'Aborted' : 'Rolling back'}: ` +
                  `${s.rollout.reason ?? 'no reason given'}.`}
          </p>
          <Facts
            items={[
              [
                'Class',
                <a key="c" href={href.plans(s.rollout.deviceClass)}>
                  {s.rollout.deviceClass}
                </a>,
              ],
              ['Variant', <code key="v">{s.rollout.variantId}</code>],
              [
                'Artifact',
                <code key="a" title={s.rollout.artifactSha}>
                  {shortSha(s.rollout.artifactSha)}
                </code>,
              ],
              ['Policy', policySummary(s.rollout.policy)],
              ['Started', <Time key="s" at={s.rollout.createdAt} />],
              ['Finished', <Time key="f" at={s.rollout.finishedAt} />],
            ]}
          />
          <h2>Waves</h2>
          <WaveBars status={s} />
          <WaveLegend />
          <h2>Devices</h2>
          <DeviceTable status={s} />
        </>
      ) : null}
      <ConfirmDialog
        open={confirming}
        title={`Abort rollout ${id}?`}
        confirmLabel="Abort rollout"
        reason={{ label: 'Reason (kept with the rollout)', initial: 'aborted from the console' }}
        onCancel={() => setConfirming(false)}
        onConfirm={(reason) => {
          setConfirming(false);
          setError(null);
          api
            .abortRollout(id, reason)
            .then(() => status.reload())
            .catch((err: unknown) => setError(`Abort failed: ${asError(err).message}`));
        }}
      >
        <p>
          No further waves start, and devices that already installed this variant roll back to what they ran before.
        </p>
      </ConfirmDialog>
    </section>
  );
}
