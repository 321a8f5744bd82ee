/**
 * One variant of a plan in detail (size, accuracy, predictions, budget violations) and, for
 * admin tokens, the form that starts a rollout of it to the plan's class.
 */
import { useState } from 'preact/hooks';
import { goldenSetSchema } from '@edgefleet/shared/messages/deploy';
import type { FleetApi, PlanCandidate, RolloutRecord, StoredPlan } from '../api/endpoints.js';
import { useApp } from '../app-context.js';
import { formatBytes, formatMs, formatPct, formatWatts, shortSha } from '../format.js';
import { href, navigate } from '../router.js';
import { Facts, StateBadge } from './ui.js';
import { asError } from '@edgefleet/shared/errors';

export interface InspectorProps {
  readonly plan: StoredPlan['plan'];
  readonly candidate: PlanCandidate;
  /** The class's rollout in progress, if any: a second one is refused, so the form says so. */
  readonly activeRollout: RolloutRecord | null;
  readonly currentSha: string | null;
  /** The class never had a rollout, so there is no golden set to reuse: one is made from data or given as a file. */
  readonly firstRollout: boolean;
}

function Violations({ candidate }: { candidate: PlanCandidate }) {
  if (candidate.violations.length === 0) return <span>none</span>;
  return (
    <ul class="plain">
      {candidate.violations.map((v) => (
        <li key={v.budget}>
          {v.budget}: {v.value.toPrecision(3)} {v.unit} against {v.limit.toPrecision(3)} {v.unit}
        </li>
      ))}
    </ul>
  );
}

/**
 * The golden set a rollout carries: the admin's file if one was chosen; on a class's first
 * rollout, one the server makes from the model's registered evaluation data (as
 * `rollout start --golden auto` does); otherwise none, so the class's latest is reused.
 */
function goldenFor(api: FleetApi, file: File | null, firstRolloutOf: string | null): Promise<unknown> {
  if (file) return readGolden(file);
  if (firstRolloutOf === null) return Promise.resolve(undefined);
  return api.makeGolden(firstRolloutOf).then((made) => made.golden);
}

/** Reads a golden-set JSON file and checks it with the schema the server uses. */
async function readGolden(file: File): Promise<unknown> {
  const json: unknown = JSON.parse(await file.text());
  const parsed = goldenSetSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${file.name} is not a golden set (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`,
    );
  }
  return parsed.data;
}

function RolloutForm({ plan, candidate, activeRollout, firstRollout }: Omit<InspectorProps, 'currentSha'>) {
  const { api } = useApp();
  const [canary, setCanary] = useState(1);
  const [baseCount, setBaseCount] = useState(2);
  const [growth, setGrowth] = useState(2);
  const [golden, setGolden] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const sha = candidate.artifactSha;
  const blocked = sha === null ? 'This variant has no built artifact.' : activeRollout ? 'in-progress' : null;
  return (
    <form
      class="rollout-form"
      aria-labelledby="rollout-form-title"
      onSubmit={(e) => {
        e.preventDefault();
        if (sha === null || blocked) return;
        setBusy(true);
        setError(null);
        goldenFor(api, golden, firstRollout ? sha : null)
          .then((g) =>
            api.startRollout({
              deviceClass: plan.deviceClass.name,
              variant: sha,
              // Named as the control loop names its variants, so timelines and histories read alike.
              variantId: `v-${candidate.recipe.replace(/[^A-Za-z0-9_.:@-]/g, '-').slice(0, 40)}-${sha.slice(0, 8)}`,
              policy: { canary: { count: canary }, baseCount, growthFactor: growth },
              ...(g === undefined ? {} : { golden: g }),
            }),
          )
          .then((status) => navigate(href.rollout(status.rollout.id)))
          .catch((err: unknown) => setError(asError(err).message))
          .finally(() => setBusy(false));
      }}
    >
      <h3 id="rollout-form-title">
        Roll {candidate.recipe} out to {plan.deviceClass.name}
      </h3>
      <fieldset>
        <legend>Waves</legend>
        <label class="field field-inline">
          <span>Canary devices</span>
          <input
            type="number"
            min={1}
            max={1000}
            value={canary}
            onInput={(e) => setCanary(Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <label class="field field-inline">
          <span>Next wave</span>
          <input
            type="number"
            min={1}
            max={100000}
            value={baseCount}
            onInput={(e) => setBaseCount(Number((e.target as HTMLInputElement).value))}
          />
        </label>
        <label class="field field-inline">
          <span>Growth per wave</span>
          <input
            type="number"
            min={1}
            max={5}
            step={0.5}
            value={growth}
            onInput={(e) => setGrowth(Number((e.target as HTMLInputElement).value))}
          />
        </label>
      </fieldset>
      <label class="field">
        <span>Golden set (optional JSON file)</span>
        <input
          type="file"
          accept="application/json,.json"
          aria-describedby="golden-help"
          onChange={(e) => setGolden((e.target as HTMLInputElement).files?.[0] ?? null)}
        />
      </label>
      {firstRollout ? (
        <p id="golden-help" class="help">
          {plan.deviceClass.name} has had no rollout yet. Without a file, the server makes the smoke test every device
          runs before it switches from the model’s evaluation data and checks it on its own host (as{' '}
          <code>rollout start --golden auto</code> does); a model without evaluation data needs a file (
          <code>edgefleet golden make</code> writes one). Later rollouts, and the control loop’s, reuse it.
        </p>
      ) : (
        <p id="golden-help" class="help">
          Without a file, the golden set of the class’s latest rollout is reused, as the control loop does.
        </p>
      )}
      {activeRollout ? (
        <p class="notice notice-warn">
          A rollout is in progress on this class (<a href={href.rollout(activeRollout.id)}>{activeRollout.variantId}</a>
          ); wait for it or abort it first.
        </p>
      ) : null}
      {error ? (
        <p class="notice notice-error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" class="button button-primary" disabled={busy || blocked !== null}>
        {busy ? 'Starting…' : 'Start rollout'}
      </button>
    </form>
  );
}

export function VariantInspector({ plan, candidate: c, activeRollout, currentSha, firstRollout }: InspectorProps) {
  const { canChange } = useApp();
  const baseline = plan.candidates.find((x) => x.recipe === plan.baseline.recipe);
  const ratio = baseline?.bytes && c.bytes ? baseline.bytes / c.bytes : null;
  return (
    <section class="card inspector" aria-labelledby="inspector-title" data-testid="inspector">
      <header class="card-header">
        <h2 id="inspector-title">{c.recipe}</h2>
        {plan.chosen === c.recipe ? <StateBadge state="feasible" label="planner’s choice" /> : null}
        {currentSha !== null && c.artifactSha === currentSha ? <StateBadge state="active" label="running now" /> : null}
        <StateBadge
          state={c.feasible ? 'feasible' : 'breached'}
          label={c.feasible ? 'within budgets' : 'breaks a budget'}
        />
      </header>
      <Facts
        items={[
          ['Precision', c.precision],
          ['Size', `${formatBytes(c.bytes)}${ratio && ratio !== 1 ? ` (${ratio.toFixed(1)}× smaller)` : ''}`],
          ['Accuracy', `${formatPct(c.accuracyPct)}${c.accuracyMetric === 'top1-agreement' ? ' (agreement)' : ''}`],
          ['Agreement with original', formatPct(c.agreementPct)],
          ['Predicted p95 (modelled)', formatMs(c.predicted?.p95LatencyMs)],
          [
            'Host p95 × speed factor',
            c.predicted ? `${formatMs(c.predicted.hostP95Ms)} × ${c.predicted.speedFactor}` : '–',
          ],
          ['Predicted power (modelled)', formatWatts(c.predicted?.avgPowerW)],
          ['Energy per inference', c.predicted ? `${c.predicted.energyPerInferenceMj.toPrecision(3)} mJ` : '–'],
          ['On the Pareto front', c.onFront ? 'yes' : 'no'],
          ['Budget violations', <Violations key="v" candidate={c} />],
          [
            'Artifact',
            <code key="a" title={c.artifactSha ?? ''}>
              {shortSha(c.artifactSha)}
            </code>,
          ],
        ]}
      />
      {c.excluded ? <p class="notice notice-warn">Excluded: {c.excluded}</p> : null}
      {canChange ? (
        <RolloutForm plan={plan} candidate={c} activeRollout={activeRollout} firstRollout={firstRollout} />
      ) : (
        <p class="muted">Signed in read-only: starting a rollout needs an admin token.</p>
      )}
    </section>
  );
}
