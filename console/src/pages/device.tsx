/**
 * One device: who it is, its telemetry against the budgets it is judged on (latency p50/p95,
 * power, golden-set accuracy), its budget status now, its model history, and (admin) revoke.
 */
import { useRef, useState } from 'preact/hooks';
import type { DeviceClass, DeviceTelemetry, DeviceView } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { ModelHistory } from '../components/model-history.js';
import { TelemetryCharts } from '../components/telemetry-charts.js';
import { ConfirmDialog, ErrorNotice, Facts, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { BUDGET_LABELS, formatBudget, formatMeasured, offlineReasonText } from '../format.js';
import { href } from '../router.js';
import { deviceState } from './fleet.js';
import { asError } from '@edgefleet/shared/errors';

/** How much telemetry the charts show. */
const SPAN_MS = 30 * 60_000;

function BudgetStatus({ telemetry }: { telemetry: DeviceTelemetry }) {
  const status = telemetry.status;
  if (!status || status.checks.length === 0)
    return <p class="muted">No budget checks yet: the device has sent no telemetry, or its class has no budgets.</p>;
  return (
    <table class="table">
      <caption>Budget status now (the last windows the server judged)</caption>
      <thead>
        <tr>
          <th scope="col">Budget</th>
          <th scope="col">Limit</th>
          <th scope="col" class="num">
            Measured
          </th>
          <th scope="col" class="num">
            Windows over
          </th>
          <th scope="col">State</th>
        </tr>
      </thead>
      <tbody>
        {status.checks.map((c) => (
          <tr key={c.budget}>
            <th scope="row">{BUDGET_LABELS[c.budget] ?? c.budget}</th>
            <td>{formatBudget(c.budget, c.limit)}</td>
            <td class="num">{formatMeasured(c.budget, c.measured)}</td>
            <td class="num">
              {c.breachedWindows} of {c.windows}
            </td>
            <td>
              {c.windows === 0 ? (
                <StateBadge state="no-data" label="no windows yet" />
              ) : (
                <StateBadge state={c.breached ? 'breached' : 'healthy'} label={c.breached ? 'breached' : 'within'} />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeviceFacts({
  device,
  cls,
  reported,
}: {
  device: DeviceView;
  cls: DeviceClass | null;
  /** The variant its latest telemetry window names. */
  reported: string | null;
}) {
  return (
    <Facts
      items={[
        ['Class', device.deviceClass ? <a href={href.plans(device.deviceClass)}>{device.deviceClass}</a> : '–'],
        ['Model (reported)', <code key="m">{reported ?? device.currentModel?.slice(0, 12) ?? 'none yet'}</code>],
        ['Last seen', <Time key="s" at={device.lastSeen} relative />],
        ['First seen', <Time key="f" at={device.firstSeen} />],
        ['Agent', device.agentVersion ?? '–'],
        [
          'Hardware',
          device.capabilities
            ? `${device.capabilities.cpuModel}, ${device.capabilities.cores} cores, ` +
              `${device.capabilities.precisions.join('/')}`
            : '–',
        ],
        ['Power figures', device.capabilities?.powerSource ?? '–'],
        [
          'Credential',
          device.credential.status === 'revoked' ? (
            <span>
              revoked <Time at={device.credential.revokedAt} relative />
            </span>
          ) : (
            device.credential.status
          ),
        ],
        ['Class profile', cls ? cls.description || cls.name : '–'],
      ]}
    />
  );
}

export function DevicePage({ id }: { id: string }) {
  const { api, canChange } = useApp();
  const mine = (e: { event: { type: string } & Record<string, unknown> }) =>
    e.event.type.startsWith('device.') && e.event['deviceId'] === id;
  const device = useLoad(() => api.device(id), [id], { everyMs: 10_000, refreshOn: mine });
  const cls = useLoad(
    () => (device.data?.deviceClass ? api.deviceClass(device.data.deviceClass) : Promise.resolve(null)),
    [device.data?.deviceClass ?? null],
  );
  const lastEnd = useRef<number | null>(null);
  const telemetry = useLoad(
    async () => {
      const from = (lastEnd.current ?? device.data?.lastSeen ?? Date.now()) - SPAN_MS;
      const t = await api.telemetry(id, from);
      lastEnd.current = t.status?.lastWindowEnd ?? t.windows.at(-1)?.windowEnd ?? lastEnd.current;
      return t;
    },
    [id],
    { everyMs: 5000 },
  );
  const history = useLoad(() => api.deployments(id), [id], {
    everyMs: 15_000,
    refreshOn: (e) => e.event.type.startsWith('rollout.'),
  });
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const d = device.data;
  return (
    <section aria-labelledby="page-title">
      <PageHeader
        title={
          <>
            <span class="muted">Device</span> {id}
          </>
        }
      >
        {d ? <StateBadge state={deviceState(d)} /> : null}
        {d && offlineReasonText(d.state, d.stateReason) ? (
          <span class="muted">{offlineReasonText(d.state, d.stateReason)}</span>
        ) : null}
        {canChange && d && d.credential.status === 'active' ? (
          <button type="button" class="button button-danger" onClick={() => setConfirming(true)}>
            Revoke device…
          </button>
        ) : null}
      </PageHeader>
      <ErrorNotice error={device.error} what="the device" />
      {notice ? (
        <p class="notice notice-ok" role="status">
          {notice}
        </p>
      ) : null}
      {device.loading ? <Loading what="the device" /> : null}
      {d ? (
        <DeviceFacts device={d} cls={cls.data ?? null} reported={telemetry.data?.windows.at(-1)?.variantId ?? null} />
      ) : null}

      <h2>Telemetry against budgets</h2>
      <ErrorNotice error={telemetry.error} what="telemetry" />
      {telemetry.loading ? <Loading what="telemetry" /> : null}
      {telemetry.data ? (
        <>
          <TelemetryCharts telemetry={telemetry.data} budgets={cls.data?.budgets ?? {}} />
          <BudgetStatus telemetry={telemetry.data} />
        </>
      ) : null}

      <h2>Model history</h2>
      <ErrorNotice error={history.error} what="the model history" />
      {history.data ? <ModelHistory deployments={history.data} /> : <Loading what="the model history" />}

      <ConfirmDialog
        open={confirming}
        title={`Revoke ${id}?`}
        confirmLabel="Revoke device"
        onCancel={() => setConfirming(false)}
        onConfirm={() => {
          setConfirming(false);
          api
            .revoke(id)
            .then((r) => {
              setNotice(
                `${id} is revoked${r.disconnected ? ' and was disconnected' : ''}; it is refused until it ` +
                  `enrolls again.`,
              );
              device.reload();
            })
            .catch((err: unknown) => setNotice(`Revoke failed: ${asError(err).message}`));
        }}
      >
        <p>
          The device is disconnected now and refused from then on. To readmit it, enroll it again with a new enrollment
          token.
        </p>
      </ConfirmDialog>
    </section>
  );
}
