/**
 * The fleet: how many devices each class has in each state, and every device as a tile,
 * kept current by the live event stream (device online/offline/enrolled/revoked).
 */
import { useMemo, useState } from 'preact/hooks';
import type { ClassStatus, DeviceView, FleetApi } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { href } from '../router.js';

const STATES = ['online', 'offline', 'never-seen'] as const;
const STATE_LABELS: Record<(typeof STATES)[number], string> = {
  online: 'Online',
  offline: 'Offline',
  'never-seen': 'Never seen',
};

/** A device's state as the console shows it: a revoked credential trumps presence. */
export function deviceState(d: DeviceView): string {
  return d.credential.status === 'revoked' ? 'revoked' : d.state;
}

type DeviceTelemetryStatus = ClassStatus['devices'][number];

/** Devices, and what each last reported (variant, budget breach, throttling) from its class's status. */
async function loadFleet(api: FleetApi) {
  const devices = await api.devices();
  const names = [...new Set(devices.flatMap((d) => (d.deviceClass ? [d.deviceClass] : [])))];
  // A class no profile describes yet has no status; its devices simply show no telemetry.
  const statuses = await Promise.all(names.map((n) => api.classStatus(n).catch(() => null)));
  const telemetry = new Map<string, DeviceTelemetryStatus>(
    statuses.flatMap((s) => (s ? s.devices.map((d) => [d.deviceId, d] as const) : [])),
  );
  return { devices, telemetry };
}

/** The model a device runs: what its telemetry last named, else the registry's sha. */
function modelOf(device: DeviceView, t: DeviceTelemetryStatus | undefined): string {
  if (t?.variantId) return t.variantId;
  if (device.currentModel)
    return /^[0-9a-f]{64}$/.test(device.currentModel) ? device.currentModel.slice(0, 12) : device.currentModel;
  return 'no model yet';
}

function byClass(devices: readonly DeviceView[]): Map<string, DeviceView[]> {
  const groups = new Map<string, DeviceView[]>();
  for (const d of devices) {
    const key = d.deviceClass ?? '(no class)';
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)));
}

function Matrix({ groups }: { groups: Map<string, DeviceView[]> }) {
  const count = (list: readonly DeviceView[], state: string) => list.filter((d) => deviceState(d) === state).length;
  const all = [...groups.values()].flat();
  return (
    <table class="table matrix" aria-describedby="matrix-caption">
      <caption id="matrix-caption">Devices per class and state</caption>
      <thead>
        <tr>
          <th scope="col">Class</th>
          {STATES.map((s) => (
            <th scope="col" key={s} class="num">
              {STATE_LABELS[s]}
            </th>
          ))}
          <th scope="col" class="num">
            Revoked
          </th>
          <th scope="col" class="num">
            Total
          </th>
        </tr>
      </thead>
      <tbody>
        {[...groups].map(([cls, list]) => (
          <tr key={cls}>
            <th scope="row">
              <a
                href={href.fleet()}
                onClick={(e) => {
                  // In-page jump; the hash belongs to the router.
                  e.preventDefault();
                  document.getElementById(`class-${cls}`)?.focus();
                }}
              >
                {cls}
              </a>
            </th>
            {STATES.map((s) => (
              <td key={s} class={`num ${count(list, s) > 0 ? `cell-${s}` : 'cell-zero'}`}>
                {count(list, s)}
              </td>
            ))}
            <td class={`num ${count(list, 'revoked') > 0 ? 'cell-revoked' : 'cell-zero'}`}>{count(list, 'revoked')}</td>
            <td class="num">{list.length}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">All classes</th>
          {STATES.map((s) => (
            <td key={s} class="num" data-testid={`total-${s}`}>
              {count(all, s)}
            </td>
          ))}
          <td class="num">{count(all, 'revoked')}</td>
          <td class="num" data-testid="total-devices">
            {all.length}
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

function DeviceTile({ device, telemetry }: { device: DeviceView; telemetry: DeviceTelemetryStatus | undefined }) {
  const state = deviceState(device);
  const model = modelOf(device, telemetry);
  return (
    <li>
      <a class={`tile tile-${state}`} href={href.device(device.id)} data-testid="device-tile">
        <span class="tile-id">{device.id}</span>
        <StateBadge state={state} />
        <span class="tile-model" title={model}>
          {model}
        </span>
        {telemetry?.breached || telemetry?.throttled ? (
          <span class="tile-flags">
            {telemetry.breached ? <StateBadge state="breached" label="over budget" /> : null}{' '}
            {telemetry.throttled ? <StateBadge state="throttled" /> : null}
          </span>
        ) : null}
        <span class="tile-seen">
          seen <Time at={device.lastSeen} relative />
        </span>
      </a>
    </li>
  );
}

export function FleetPage() {
  const { api } = useApp();
  const fleet = useLoad(() => loadFleet(api), [], {
    everyMs: 10_000,
    refreshOn: (e) => e.event.type.startsWith('device.'),
  });
  const devices = { ...fleet, data: fleet.data?.devices ?? null };
  const telemetry = fleet.data?.telemetry ?? new Map<string, DeviceTelemetryStatus>();
  const [filter, setFilter] = useState('');
  const [state, setState] = useState('all');
  const shown = useMemo(
    () =>
      (devices.data ?? []).filter(
        (d) =>
          (state === 'all' || deviceState(d) === state) &&
          (filter === '' || d.id.includes(filter) || modelOf(d, telemetry.get(d.id)).includes(filter)),
      ),
    [devices.data, telemetry, filter, state],
  );
  const online = (devices.data ?? []).filter((d) => deviceState(d) === 'online').length;
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Fleet">
        {devices.data ? (
          <p class="lede" data-testid="fleet-summary">
            {devices.data.length} devices, {online} online
          </p>
        ) : null}
      </PageHeader>
      <ErrorNotice error={devices.error} what="devices" />
      {devices.loading ? <Loading what="devices" /> : null}
      {devices.data && devices.data.length === 0 ? (
        <Empty>
          No devices yet. Devices appear here when their agent says hello (see the README, “Provisioning a real
          device”).
        </Empty>
      ) : null}
      {devices.data && devices.data.length > 0 ? (
        <>
          <Matrix groups={byClass(devices.data)} />
          <fieldset class="filters">
            <legend class="sr-only">Filter devices</legend>
            <label class="field field-inline">
              <span>Device or model</span>
              <input type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
            </label>
            <label class="field field-inline">
              <span>State</span>
              <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
                <option value="all">All states</option>
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {STATE_LABELS[s]}
                  </option>
                ))}
                <option value="revoked">Revoked</option>
              </select>
            </label>
            <p class="filter-count" aria-live="polite">
              {shown.length} of {devices.data.length} shown
            </p>
          </fieldset>
          {[...byClass(shown)].map(([cls, list]) => (
            <section key={cls} class="class-group" aria-labelledby={`class-${cls}`}>
              <h2 id={`class-${cls}`} tabIndex={-1}>
                {cls}{' '}
                <span class="muted">
                  {list.length} devices, {list.filter((d) => deviceState(d) === 'online').length} online
                </span>
              </h2>
              <ul class="device-grid">
                {list.map((d) => (
                  <DeviceTile key={d.id} device={d} telemetry={telemetry.get(d.id)} />
                ))}
              </ul>
            </section>
          ))}
        </>
      ) : null}
    </section>
  );
}
