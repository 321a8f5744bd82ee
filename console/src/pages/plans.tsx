/**
 * Models and plans: pick a class, see its plan as a Pareto plot with the budget lines,
 * inspect any variant, start a rollout of it (admin), or plan a stored model for the class.
 */
import { useEffect, useState } from 'preact/hooks';
import type { StoredPlan } from '../api/endpoints.js';
import { useApp, useLoad } from '../app-context.js';
import { ParetoPlot } from '../components/pareto-plot.js';
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from '../components/ui.js';
import { VariantInspector } from '../components/variant-inspector.js';
import { formatBytes, formatMs, formatPct } from '../format.js';
import { href, navigate } from '../router.js';
import { asError } from '@edgefleet/shared/errors';

function CandidateTable({
  plan,
  selected,
  onSelect,
}: {
  plan: StoredPlan['plan'];
  selected: string | null;
  onSelect(recipe: string): void;
}) {
  return (
    <table class="table">
      <caption>Every candidate of the plan</caption>
      <thead>
        <tr>
          <th scope="col">Variant</th>
          <th scope="col" class="num">
            Size
          </th>
          <th scope="col" class="num">
            Accuracy
          </th>
          <th scope="col" class="num">
            Predicted p95
          </th>
          <th scope="col">Verdict</th>
          <th scope="col">
            <span class="sr-only">Inspect</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {plan.candidates.map((c) => (
          <tr key={c.recipe} class={selected === c.recipe ? 'row-selected' : ''}>
            <th scope="row">
              {c.recipe} <span class="muted">{c.precision}</span>
            </th>
            <td class="num">{formatBytes(c.bytes)}</td>
            <td class="num">{formatPct(c.accuracyPct)}</td>
            <td class="num">{formatMs(c.predicted?.p95LatencyMs)}</td>
            <td>
              {!c.eligible ? (
                <span class="muted">excluded: {c.excluded}</span>
              ) : (
                <>
                  <StateBadge state={c.feasible ? 'feasible' : 'breached'} label={c.feasible ? 'fits' : 'breaks'} />
                  {c.onFront ? ' front' : ''}
                  {plan.chosen === c.recipe ? ' · chosen' : ''}
                </>
              )}
            </td>
            <td>
              <button
                type="button"
                class="button button-small"
                aria-pressed={selected === c.recipe}
                onClick={() => onSelect(c.recipe)}
              >
                Inspect<span class="sr-only"> {c.recipe}</span>
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PlanNow({ deviceClass, onPlanned }: { deviceClass: string; onPlanned(): void }) {
  const { api } = useApp();
  const models = useLoad(() => api.models(), []);
  const [model, setModel] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const list = models.data ?? [];
  if (models.data && list.length === 0)
    return (
      <p class="muted">
        No models stored yet: upload one with <code>npx edgefleet model add FILE.onnx --api …</code>.
      </p>
    );
  return (
    <form
      class="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        const chosen = model || list[0]?.sha256;
        if (!chosen) return;
        setBusy(true);
        setError(null);
        api
          .createPlan(chosen, deviceClass)
          .then(() => onPlanned())
          .catch((err: unknown) => setError(asError(err).message))
          .finally(() => setBusy(false));
      }}
    >
      <label class="field field-inline">
        <span>Model</span>
        <select
          value={model || list[0]?.sha256 || ''}
          onChange={(e) => setModel((e.target as HTMLSelectElement).value)}
        >
          {list.map((m) => (
            <option key={m.sha256} value={m.sha256}>
              {m.name} ({m.sha256.slice(0, 8)}, {formatBytes(m.bytes)})
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="button" disabled={busy || list.length === 0}>
        {busy ? 'Planning…' : 'Plan'}
      </button>
      <span class="help" aria-live="polite">
        {busy ? 'Building and measuring variants: seconds for the MNIST zoo, minutes for large models.' : ''}
      </span>
      {error ? (
        <p class="notice notice-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}

export function PlansPage({ deviceClass }: { deviceClass: string | null }) {
  const { api, canChange } = useApp();
  const classes = useLoad(() => api.classes(), []);
  const names = (classes.data?.classes ?? []).map((c) => c.name);
  const cls = deviceClass ?? names[0] ?? null;
  const plans = useLoad(() => (cls ? api.plans(cls) : Promise.resolve([])), [cls]);
  const rollouts = useLoad(() => (cls ? api.rollouts({ deviceClass: cls }) : Promise.resolve([])), [cls], {
    everyMs: 5000,
    refreshOn: (e) => e.event.type.startsWith('rollout.'),
  });
  const [planId, setPlanId] = useState<number | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const list = plans.data ?? [];
  const stored = list.find((p) => p.id === planId) ?? list.at(-1) ?? null;
  useEffect(() => setSelected(stored?.plan.chosen ?? null), [stored?.id]);
  const candidate = stored?.plan.candidates.find((c) => c.recipe === selected) ?? null;
  const currentSha = (rollouts.data ?? []).filter((r) => r.state === 'completed').at(-1)?.artifactSha ?? null;
  const active = (rollouts.data ?? []).find((r) => r.state === 'in-progress' || r.state === 'rolling-back') ?? null;
  // Known only once the list has loaded: a class without any rollout has no golden set to reuse.
  const firstRollout = rollouts.data !== null && rollouts.data.length === 0;

  return (
    <section aria-labelledby="page-title">
      <PageHeader title="Models & plans">
        <label class="field field-inline">
          <span>Class</span>
          <select value={cls ?? ''} onChange={(e) => navigate(href.plans((e.target as HTMLSelectElement).value))}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        {list.length > 1 ? (
          <label class="field field-inline">
            <span>Plan</span>
            <select
              value={String(stored?.id ?? '')}
              onChange={(e) => setPlanId(Number((e.target as HTMLSelectElement).value))}
            >
              {list.map((p) => (
                <option key={p.id} value={String(p.id)}>
                  #{p.id} {p.plan.model.name}, {new Date(p.createdAt).toLocaleTimeString()}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </PageHeader>
      <ErrorNotice error={classes.error ?? plans.error} what="plans" />
      {classes.loading || plans.loading ? <Loading what="plans" /> : null}
      {classes.data && names.length === 0 ? <Empty>No device classes yet.</Empty> : null}
      {cls && plans.data && !stored ? (
        <Empty>No valid plan for {cls} yet (a class update invalidates its plans).</Empty>
      ) : null}
      {stored ? (
        <>
          <p class="lede">
            Plan #{stored.id} of <strong>{stored.plan.model.name}</strong> for {cls}, made{' '}
            <Time at={stored.createdAt} relative />.{' '}
            {stored.plan.outcome === 'feasible' ? 'Chosen' : 'No variant fits; closest'}:{' '}
            <strong>{stored.plan.chosen ?? 'none'}</strong>. Device latency is predicted (host measurement × the class’s
            modelled speed factor
            {stored.plan.speedModel.override ? `, corrected: ${stored.plan.speedModel.override.label}` : ''}).
          </p>
          <p class="reason muted">{stored.plan.reason}</p>
          <div class="plan-layout">
            <ParetoPlot plan={stored.plan} selected={selected} currentSha={currentSha} onSelect={setSelected} />
            {candidate ? (
              <VariantInspector
                plan={stored.plan}
                candidate={candidate}
                activeRollout={active}
                currentSha={currentSha}
                firstRollout={firstRollout}
              />
            ) : (
              <p class="muted">Select a point or a row to inspect a variant.</p>
            )}
          </div>
          <CandidateTable plan={stored.plan} selected={selected} onSelect={setSelected} />
        </>
      ) : null}
      {cls && canChange ? (
        <section class="card" aria-labelledby="plan-now-title">
          <h2 id="plan-now-title">Plan a stored model for {cls}</h2>
          <p class="help">
            Builds (or reuses) the candidate variants, predicts them for the class and keeps the Pareto front. The same
            model and class again return the stored plan at once.
          </p>
          <PlanNow deviceClass={cls} onPlanned={() => plans.reload()} />
        </section>
      ) : null}
    </section>
  );
}
