/**
 * The pure heart of the loop: `decide(snapshot, policy, now)` → one decision with its actions
 * and the memory to keep. No I/O, no clock, no randomness: ids derive from the class, the
 * episode and the target, so deciding twice on the same snapshot gives the same decision.
 */
import { createHash } from 'node:crypto';
import { stripUndefined } from '@edgefleet/shared';
import type { ControlPolicy } from './policy.js';
import type {
  ClassSnapshot,
  ControlAction,
  ControlBudget,
  ControlMemory,
  Decision,
  DecisionKind,
  DeviceObservation,
  PlanMember,
  SnapshotSummary,
} from './model.js';
import { searchEnded, searchRunning } from './decide-search.js';
import {
  chooseFastest,
  chooseFitting,
  chooseMoreAccurate,
  corrected,
  currentMember,
  latencyRatio,
  ratioAtLimit,
} from './select.js';

const HOUR_MS = 3_600_000;
const BUDGETS: readonly ControlBudget[] = ['latencyP95Ms', 'powerW', 'energyPerInferenceMj', 'minAccuracy'];

const shortHash = (v: unknown): string => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

/** A decision's id: its class and time (deciding twice at one instant gives the same decision). */
const decisionIdOf = (deviceClass: string, now: number): string => `d-${deviceClass}-${now}`;

/** Hash of a desired state: which variant on which devices of a class. */
export function desiredHashOf(deviceClass: string, artifactSha: string, deviceIds: readonly string[] | null): string {
  return shortHash({ deviceClass, artifactSha, devices: deviceIds === null ? null : [...deviceIds].sort() });
}

/** Budgets breached by at least `fraction` of `devices`, with each budget's fraction. */
function breachedBudgets(
  devices: readonly DeviceObservation[],
  fraction: number,
): { budgets: ControlBudget[]; fractions: Partial<Record<ControlBudget, number>> } {
  const fractions: Partial<Record<ControlBudget, number>> = {};
  const budgets: ControlBudget[] = [];
  for (const b of BUDGETS) {
    const n = devices.filter((d) => d.breaches.includes(b)).length;
    if (n === 0 || devices.length === 0) continue;
    fractions[b] = n / devices.length;
    if (n / devices.length >= fraction) budgets.push(b);
  }
  return { budgets, fractions };
}

/** Which devices are judged: the class, or the throttled cohort when the breach is confined to it. */
interface Scope {
  readonly devices: readonly DeviceObservation[];
  readonly cohort: string | null;
  readonly budgets: ControlBudget[];
  readonly fractions: Partial<Record<ControlBudget, number>>;
}

function scopeOf(s: ClassSnapshot, policy: ControlPolicy): Scope {
  const whole = breachedBudgets(s.devices, policy.breachFraction);
  if (whole.budgets.length > 0 || !policy.cohorts.enabled) return { devices: s.devices, cohort: null, ...whole };
  const throttled = s.devices.filter((d) => d.throttled);
  const breaching = s.devices.filter((d) => d.breaches.length > 0);
  const confined = breaching.length > 0 && breaching.every((d) => d.throttled);
  if (!confined || throttled.length / Math.max(1, s.devices.length) > policy.cohorts.maxFraction)
    return { devices: s.devices, cohort: null, ...whole };
  const part = breachedBudgets(throttled, policy.breachFraction);
  return part.budgets.length > 0
    ? { devices: throttled, cohort: 'throttled', ...part }
    : { devices: s.devices, cohort: null, ...whole };
}

function summarize(s: ClassSnapshot, scope: Scope, current: PlanMember | null, ratio: number | null): SnapshotSummary {
  return {
    activeDevices: s.devices.length,
    breachingDevices: s.devices.filter((d) => d.breaches.length > 0).length,
    throttledDevices: s.devices.filter((d) => d.throttled).length,
    fractions: scope.fractions,
    currentRecipe: current?.recipe ?? null,
    currentSha: current?.artifactSha ?? null,
    latencyRatio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    planId: s.plan?.planId ?? null,
  };
}

interface Draft {
  kind: DecisionKind;
  reason: string;
  actions: ControlAction[];
  memory: ControlMemory;
}

/** Decides for one class. */
export function decide(s: ClassSnapshot, policy: ControlPolicy, now: number): Decision {
  const scope = scopeOf(s, policy);
  const members = s.plan?.members ?? [];
  const current = currentMember(members, scope.devices);
  const ratio = latencyRatio(current, scope.devices);
  // While no device breaches, the serving variant's ratio is the devices' standing correction.
  const healthy = ratio !== null && current !== null && s.devices.every((d) => d.breaches.length === 0);
  // A re-plan still pending when a decision starts was lost: act clears it before the cycle decides again.
  const lost = s.memory.replan ?? null;
  const memory: ControlMemory = {
    ...s.memory,
    ...(lost ? lostReplanMemory(s.memory) : {}),
    ...(healthy && ratio > 0
      ? { standing: { ratio: ratio * (s.plan?.correction ?? 1), variantSha: current.artifactSha, at: now } }
      : {}),
    deploys: s.memory.deploys.filter((t) => now - t < HOUR_MS),
    failed: Object.fromEntries(Object.entries(s.memory.failed).filter(([, t]) => now - t < policy.failedRetryMs)),
  };
  const draft =
    s.devices.length < policy.minActiveDevices
      ? {
          kind: 'healthy' as const,
          reason: `${s.devices.length} active device(s), fewer than ${policy.minActiveDevices}: not judged`,
          actions: [],
          memory,
        }
      : draftFor(s, scope, policy, now, memory, current, ratio);
  const kind = draft.kind;
  return {
    id: decisionIdOf(s.deviceClass, now),
    deviceClass: s.deviceClass,
    at: now,
    kind,
    reason: lost
      ? `${draft.reason} (the re-plan of ${lost.decisionId} was lost: its server stopped before the plan was stored)`
      : draft.reason,
    budgets: scope.budgets,
    summary: summarize(s, scope, current, ratio),
    actions: draft.actions,
    memory: { ...draft.memory, lastKind: kind === 'healthy' && s.memory.lastKind === null ? null : kind },
    // "healthy" right after "recovered" (or at the start) says nothing new; a search's end always is.
    record:
      draft.actions.length > 0 ||
      kind === 'searched' ||
      (kind !== s.memory.lastKind &&
        !(kind === 'healthy' && (s.memory.lastKind === null || s.memory.lastKind === 'recovered'))),
    ...(lost ? { lostReplan: { decisionId: lost.decisionId, actionId: lost.actionId } } : {}),
  };
}

/** Memory after a lost re-plan: none pending, and the episode may re-plan once more. */
function lostReplanMemory(m: ControlMemory): Pick<ControlMemory, 'replan' | 'episode'> {
  const ep = m.episode;
  if (ep === null || ep.replanRerun === true) return { replan: null, episode: ep };
  return { replan: null, episode: { ...ep, replanned: false, replanRerun: true } };
}

function draftFor(
  s: ClassSnapshot,
  scope: Scope,
  policy: ControlPolicy,
  now: number,
  memory: ControlMemory,
  current: PlanMember | null,
  ratio: number | null,
): Draft {
  const where = scope.cohort === null ? 'class' : `${scope.cohort} cohort (${scope.devices.length} devices)`;
  // A search the loop started has ended: say so first (the loop decides again at once, on the plan it made).
  const ended = searchEnded(s, memory);
  if (ended) return ended;
  if (scope.budgets.length === 0) {
    if (memory.episode !== null)
      return {
        kind: 'recovered',
        reason: `back within budget after episode ${memory.episode.id}`,
        actions: [],
        memory: { ...memory, breachingSince: null, episode: null },
      };
    return { kind: 'healthy', reason: 'within budget', actions: [], memory: { ...memory, breachingSince: null } };
  }
  const pct = scope.budgets.map((b) => `${b} ${Math.round((scope.fractions[b] ?? 0) * 100)}%`).join(', ');
  const since = memory.breachingSince ?? now;
  if (now - since < policy.hysteresisMs) {
    return {
      kind: 'watching',
      reason: `${where} breaching (${pct} of devices) for ${now - since} ms; acting after ${policy.hysteresisMs} ms`,
      actions: [],
      memory: { ...memory, breachingSince: since },
    };
  }
  const episode = memory.episode ?? {
    id: `ep-${s.deviceClass}-${since}`,
    startedAt: since,
    changes: 0,
    replanned: false,
    alerted: false,
  };
  const m: ControlMemory = { ...memory, breachingSince: since, episode };
  if (s.rolloutActive)
    return { kind: 'waiting', reason: `${where} breaching (${pct}); a rollout is in progress`, actions: [], memory: m };
  // One search per class at a time; its end (a `searched` decision) lets the loop choose from what it made.
  const searching = searchRunning(s);
  if (searching !== null)
    return { kind: 'waiting', reason: `${where} breaching (${pct}); ${searching}`, actions: [], memory: m };
  const guard = guardOf(m, policy, now);
  if (guard !== null) return holdOrAlert(s, m, `${where} breaching (${pct}) but ${guard}`);
  if (!s.plan) return holdOrAlert(s, m, `${where} breaching (${pct}) but the class has no plan to choose from`);
  return choose(s, scope, policy, m, current, ratio ?? 1, `${where} breaching (${pct})`, now);
}

/** Why no change may happen now (cooldown, hourly cap, episode cap), or null. */
function guardOf(m: ControlMemory, policy: ControlPolicy, now: number): string | null {
  const last = m.deploys.at(-1);
  if (last !== undefined && now - last < policy.cooldownMs)
    return `the class is in cooldown for ${policy.cooldownMs - (now - last)} ms more`;
  if (m.deploys.length >= policy.maxDeploysPerHour)
    return `the cap of ${policy.maxDeploysPerHour} re-deploys per hour is reached`;
  if (m.episode !== null && m.episode.changes >= policy.maxChangesPerEpisode)
    return `this episode already changed variant ${m.episode.changes} time(s) (cap ${policy.maxChangesPerEpisode})`;
  return null;
}

/** Budgets with the predicted figures' limits at `margin`, as `misfits` judges members (select.ts). */
function marginedBudgets(b: ClassSnapshot['budgets'], margin: number): ClassSnapshot['budgets'] {
  const scaled = (v: number | undefined) => (v === undefined ? undefined : v * margin);
  return stripUndefined({
    ...b,
    maxP95LatencyMs: scaled(b.maxP95LatencyMs),
    maxAvgPowerW: scaled(b.maxAvgPowerW),
    maxEnergyPerInferenceMj: scaled(b.maxEnergyPerInferenceMj),
  });
}

/** A hold, with one alert per episode. */
function holdOrAlert(s: ClassSnapshot, m: ControlMemory, reason: string): Draft {
  const ep = m.episode;
  if (ep === null || ep.alerted) return { kind: 'hold', reason, actions: [], memory: m };
  const alert: ControlAction = {
    kind: 'alert',
    id: `a-${shortHash({ c: s.deviceClass, ep: ep.id, kind: 'alert' })}`,
    deviceClass: s.deviceClass,
    severity: 'warning',
    message: reason,
  };
  return { kind: 'alert', reason, actions: [alert], memory: { ...m, episode: { ...ep, alerted: true } } };
}

function choose(
  s: ClassSnapshot,
  scope: Scope,
  policy: ControlPolicy,
  m: ControlMemory,
  current: PlanMember | null,
  ratio: number,
  why: string,
  now: number,
): Draft {
  const plan = s.plan;
  const ep = m.episode;
  if (!plan || !ep) return { kind: 'hold', reason: why, actions: [], memory: m };
  const accuracy = scope.budgets.includes('minAccuracy');
  const failed = { ...m.failed };
  // An accuracy breach condemns the variant serving now on this class.
  if (accuracy && current) failed[current.artifactSha] = s.at;
  const exclude = new Set([...Object.keys(failed), ...(current ? [current.artifactSha] : [])]);
  const standing =
    policy.correction === 'utilisation' && m.standing && current && !scope.devices.some((d) => d.throttled)
      ? { ratio: m.standing.ratio / plan.correction, servingPredictedMs: current.predictedP95Ms }
      : undefined;
  const fit = {
    budgets: s.budgets,
    limits: s.limits,
    baselinePct: plan.baselinePct,
    ratio,
    margin: policy.fitMargin,
    ...stripUndefined({ standing }),
  };
  const fitting = accuracy
    ? chooseMoreAccurate(plan.members, current, fit, exclude)
    : chooseFitting(plan.members, fit, exclude);
  const mm: ControlMemory = { ...m, failed };
  const ratioText =
    `measured/predicted latency ${ratio.toFixed(2)}` +
    (standing ? `, devices' standing ratio ${standing.ratio.toFixed(2)}, utilisation-aware` : '');
  // Best effort only once a re-plan (when one is possible), and a search when enabled, found nothing either.
  const spent = (plan.corrected || ep.replanned) && (!policy.search.enabled || ep.searched === true);
  const fallback =
    fitting === null && !accuracy && policy.bestEffort && spent
      ? chooseFastest(plan.members, current, fit, exclude)
      : null;
  const target = fitting ?? fallback;
  if (target) {
    const deviceIds = scope.cohort === null ? null : scope.devices.map((d) => d.deviceId).sort();
    const desiredHash = desiredHashOf(s.deviceClass, target.artifactSha, deviceIds);
    const action: ControlAction = {
      kind: 'rollout',
      id: `a-${shortHash({ ep: ep.id, desiredHash })}`,
      deviceClass: s.deviceClass,
      artifactSha: target.artifactSha,
      recipe: target.recipe,
      deviceIds,
      cohort: scope.cohort,
      desiredHash,
    };
    const limit = s.budgets.maxP95LatencyMs;
    const because = accuracy
      ? 'next more accurate variant'
      : fallback
        ? `nothing is predicted to fit (${ratioText}); best effort: ${target.recipe} is the fastest stored variant ` +
          `(corrected p95 ${corrected(target, fit).p95Ms.toPrecision(3)} ` +
          `ms${limit === undefined ? '' : ` vs budget ${limit} ms`}, predicted ${target.predictedP95Ms} ms)`
        : `corrected model (${ratioText}) predicts ${target.recipe} fits`;
    const reason = `${why}; ${because}: ${current?.recipe ?? 'unknown'} → ${target.recipe}`;
    return {
      kind: 'deploy',
      reason,
      actions: [action],
      memory: { ...mm, deploys: [...mm.deploys, s.at], episode: { ...ep, changes: ep.changes + 1 } },
    };
  }
  if (!accuracy && !plan.corrected && !ep.replanned) {
    const recipes = policy.replanRecipes ?? plan.recipes;
    const action: ControlAction = {
      kind: 'replan',
      id: `a-${shortHash({ ep: ep.id, kind: 'replan' })}`,
      deviceClass: s.deviceClass,
      modelSha: plan.modelSha,
      ratio,
      label: `telemetry-${ep.id}`.slice(0, 64),
      recipes,
    };
    return {
      kind: 'replan',
      reason: `${why}; nothing on the front fits with ${ratioText}: re-planning with the corrected speed model`,
      actions: [action],
      memory: {
        ...mm,
        episode: { ...ep, replanned: true },
        replan: { decisionId: decisionIdOf(s.deviceClass, now), actionId: action.id, startedAt: now },
      },
    };
  }
  if (!accuracy && policy.search.enabled && ep.searched !== true) {
    const action: ControlAction = {
      kind: 'search',
      id: `a-${shortHash({ ep: ep.id, kind: 'search' })}`,
      deviceClass: s.deviceClass,
      modelSha: plan.modelSha,
      // Against the class's own speed model: the plan's predictions may already carry a correction. Utilisation-aware,
      // the one ratio that judges the latency limit as the loop will.
      ratio: ratioAtLimit((s.budgets.maxP95LatencyMs ?? 0) * policy.fitMargin, fit) * plan.correction,
      label: `telemetry-${ep.id}`.slice(0, 64),
      timeBudgetMs: policy.search.timeBudgetMs,
      maxEvaluations: policy.search.maxEvaluations,
      epochs: policy.search.epochs,
      trainSamples: policy.search.trainSamples,
      finalEpochs: policy.search.finalEpochs,
      budgets: marginedBudgets(s.budgets, policy.fitMargin),
    };
    return {
      kind: 'search',
      reason:
        `${why}; no stored variant is predicted to fit, even with the corrected speed model (${ratioText}): ` +
        `searching for a new model (at most ${policy.search.maxEvaluations} candidates, ` +
        `${Math.round(policy.search.timeBudgetMs / 1000)} s)`,
      actions: [action],
      // act fills in the job's id once it is queued; the loop does not wait for it.
      memory: {
        ...mm,
        episode: { ...ep, searched: true },
        search: { id: null, decisionId: decisionIdOf(s.deviceClass, now), startedAt: now },
      },
    };
  }
  return holdOrAlert(s, mm, `${why}; nothing fits (${ratioText}): keeping ${current?.recipe ?? 'the current variant'}`);
}
