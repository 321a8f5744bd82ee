/**
 * Device classes: each class's budgets, the variant it runs (its latest completed rollout,
 * and one under way), its budget status now, and the control loop's latest word on it.
 */
import type { ClassStatus, Decision, DeviceClass, FleetApi, RolloutRecord } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { BUDGET_LABELS, formatBudget, formatMeasured } from '../format.js';
import { href } from '../router.js';

interface ClassRow {
  readonly cls: DeviceClass;
  readonly status: ClassStatus;
  readonly rollouts: RolloutRecord[];
  readonly lastDecision: Decision | null;
}

async function loadClasses(api: FleetApi): Promise<{ rows: ClassRow[]; unconfigured: string[] }> {
  const { classes, unconfigured } = await api.classes();
  const rows = await Promise.all(
    classes.map(async (cls) => {
      const [status, rollouts, decisions] = await Promise.all([
        api.classStatus(cls.name),
        api.rollouts({ deviceClass: cls.name }),
        api.decisions(cls.name),
      ]);
      return { cls, status, rollouts, lastDecision: decisions.at(-1) ?? null };
    }),
  );
  return { rows, unconfigured: unconfigured.map((u) => u.name) };
}

function Budgets({ cls }: { cls: DeviceClass }) {
  const entries = Object.entries(cls.budgets).filter(([, v]) => v !== undefined) as Array<[string, number]>;
  if (entries.length === 0) return <p class="muted">No budgets: nothing can breach.</p>;
  return (
    <ul class="budget-list">
      {entries.map(([name, value]) => (
        <li key={name}>
          <span class="budget-name">{BUDGET_LABELS[name] ?? name}</span> <span>{formatBudget(name, value)}</span>
        </li>
      ))}
    </ul>
  );
}

function CurrentVariant({ row }: { row: ClassRow }) {
  const done = row.rollouts.filter((r) => r.state === 'completed').at(-1);
  const active = row.rollouts.filter((r) => r.state === 'in-progress' || r.state === 'rolling-back').at(-1);
  const running = done ? row.status.devices.filter((d) => d.variantId === done.variantId).length : 0;
  return (
    <div>
      {done ? (
        <p>
          <code>{done.variantId}</code>{' '}
          <span class="muted">
            since <Time at={done.finishedAt} relative />, reported by {running} of {row.status.activeDevices} active
            devices
          </span>
        </p>
      ) : (
        <p class="muted">No completed rollout yet.</p>
      )}
      {active ? (
        <p>
          <StateBadge state={active.state} /> <a href={href.rollout(active.id)}>{active.variantId}</a>, wave{' '}
          {active.currentWave + 1} of {active.waveCount}
        </p>
      ) : null}
    </div>
  );
}

function StatusNow({ status }: { status: ClassStatus }) {
  if (status.activeDevices === 0) return <p class="muted">No active devices reporting telemetry.</p>;
  return (
    <>
      <p>
        {status.activeDevices} active, <strong>{status.breachingDevices} breaching</strong>,{' '}
        {`${status.throttledDevices} throttled`}
      </p>
      {status.summary.length > 0 ? (
        <ul class="budget-list">
          {status.summary.map((s) => (
            <li key={s.budget}>
              <span class="budget-name">{BUDGET_LABELS[s.budget] ?? s.budget}</span>{' '}
              <span>
                {s.breaching} of {s.devices} devices over ({Math.round(s.fraction * 100)} %), median{' '}
                {formatMeasured(s.budget, s.measured)} vs {formatMeasured(s.budget, s.limit)}
              </span>
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function ClassCard({ row }: { row: ClassRow }) {
  const { cls, status, lastDecision } = row;
  const verdict = status.activeDevices === 0 ? 'no telemetry' : status.breachingDevices > 0 ? 'breached' : 'healthy';
  return (
    <article class="card class-card" aria-labelledby={`cls-${cls.name}`} data-testid="class-card">
      <header class="card-header">
        <h2 id={`cls-${cls.name}`}>{cls.name}</h2>
        <StateBadge
          state={verdict}
          label={verdict === 'breached' ? 'breaching' : verdict === 'healthy' ? 'within budgets' : verdict}
        />
        <span class="muted">version {cls.version}</span>
      </header>
      {cls.description ? <p class="muted">{cls.description}</p> : null}
      <div class="card-columns">
        <div>
          <h3>Budgets</h3>
          <Budgets cls={cls} />
        </div>
        <div>
          <h3>Current variant</h3>
          <CurrentVariant row={row} />
        </div>
        <div>
          <h3>Status now</h3>
          <StatusNow status={status} />
        </div>
      </div>
      <footer class="card-footer">
        {lastDecision ? (
          <p>
            Loop, <Time at={lastDecision.at} relative />: <StateBadge state={lastDecision.kind} /> {lastDecision.reason}
          </p>
        ) : (
          <p class="muted">The control loop has not decided anything for this class yet.</p>
        )}
        <p class="links">
          <a href={href.plans(cls.name)}>Plans</a> · <a href={href.decisions(cls.name)}>Decision timeline</a>
        </p>
      </footer>
    </article>
  );
}

export function ClassesPage() {
  const { api } = useApp();
  const data = useLoad(() => loadClasses(api), [], {
    everyMs: 10_000,
    refreshOn: (e) => e.event.type.startsWith('control.') || e.event.type.startsWith('rollout.'),
  });
  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Classes" />
      <ErrorNotice error={data.error} what="classes" />
      {data.loading ? <Loading what="classes" /> : null}
      {data.data?.rows.length === 0 ? (
        <Empty>
          No classes configured. Create one with <code>npx edgefleet class create NAME --profile rpi4</code>.
        </Empty>
      ) : null}
      {data.data?.rows.map((row) => (
        <ClassCard key={row.cls.name} row={row} />
      ))}
      {data.data && data.data.unconfigured.length > 0 ? (
        <p class="notice notice-warn">
          Devices announced classes with no profile yet: {data.data.unconfigured.join(', ')}. The planner and the loop
          ignore them until a class is created.
        </p>
      ) : null}
    </section>
  );
}
