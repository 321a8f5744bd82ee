/**
 * `observe(now)`: a snapshot per class from what the server stores — the class budgets, the
 * class's newest plan (its candidates and predictions), whether a rollout is in progress,
 * each active device's budget status over the windows of the variant it serves now (windows
 * of the previous variant would otherwise keep a replaced class "breaching"), and the loop's
 * memory of the class.
 */
import type { DeviceClass, Plan } from '@edgefleet/shared';
import type { ClassService } from '../plan/classes.js';
import type { ControlRepository } from '../store/control.js';
import type { DesiredStateRepository } from '../store/desired.js';
import type { PlanRepository } from '../store/plans.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { TelemetryRepository, WindowRow } from '../store/telemetry.js';
import { budgetsFromClass, checkBudgets, type StatusRule } from '../telemetry/budget-status.js';
import {
  EMPTY_MEMORY,
  type ClassSnapshot,
  type ControlBudget,
  type DeviceObservation,
  type ObservedSearch,
  type PlanMember,
  type PlanView,
  type Precision,
} from './model.js';
import { median } from './select.js';

export interface ObserveOptions {
  readonly classes: Pick<ClassService, 'list'>;
  readonly plans: Pick<PlanRepository, 'list'>;
  readonly telemetry: Pick<TelemetryRepository, 'devicesOfClass' | 'lastWindows'>;
  readonly rollouts: Pick<RolloutRepository, 'list'>;
  readonly desired: Pick<DesiredStateRepository, 'origin'>;
  readonly control: Pick<ControlRepository, 'state'>;
  /** A device is active when its last window ended within this long, ms. Default 60000. */
  readonly activeHorizonMs?: number;
  /** The device rule: k breaking windows of the last n (default 3 of 5, as the agent's watcher). */
  readonly rule?: StatusRule;
  /** How the loop's searches stand (unset: a pending search is seen as lost). */
  readonly searches?: { observe(searchId: string): ObservedSearch };
}

const LOST: ObservedSearch = { id: null, state: 'lost', finalist: null, planId: null, detail: null };

/** The plan's eligible candidates with predictions, as the loop sees them. */
export function planView(id: number, plan: Plan): PlanView {
  const members: PlanMember[] = [];
  for (const c of plan.candidates) {
    if (!c.eligible || c.predicted === null || c.artifactSha === null || c.bytes === null) continue;
    members.push({
      recipe: c.recipe,
      precision: c.precision as Precision,
      artifactSha: c.artifactSha,
      bytes: c.bytes,
      accuracyPct: c.accuracyPct,
      predictedP95Ms: c.predicted.p95LatencyMs,
      predictedPowerW: c.predicted.avgPowerW,
      predictedEnergyMj: c.predicted.energyPerInferenceMj,
      peakMemoryBytes: c.peakMemoryBytes ?? null,
      onFront: plan.front.includes(c.recipe),
    });
  }
  return {
    planId: id,
    modelSha: plan.model.sha256,
    recipes: plan.recipes,
    corrected: plan.speedModel.override !== null,
    correction: plan.speedModel.override?.ratio ?? 1,
    baselinePct: plan.baseline.accuracyPct,
    members,
  };
}

/** The windows of the variant a device serves now (the trailing run with the last window's model). */
export function currentVariantWindows(rows: readonly WindowRow[]): WindowRow[] {
  const last = rows.at(-1);
  if (!last) return [];
  let i = rows.length - 1;
  while (i > 0 && (rows[i - 1] as WindowRow).modelSha === last.modelSha) i -= 1;
  return rows.slice(i);
}

function observeDevice(
  deviceId: string,
  rows: readonly WindowRow[],
  cls: DeviceClass,
  rule: StatusRule,
): DeviceObservation {
  const windows = currentVariantWindows(rows);
  const checks = checkBudgets(windows, budgetsFromClass(cls.budgets), rule);
  // Figures over the windows the rule judges, so the ratio reflects the present, not the variant's history.
  const judged = windows.slice(-(rule.n ?? 5));
  const fig = (pick: (w: WindowRow) => number | null): number | null =>
    median(judged.map(pick).filter((v): v is number => v !== null));
  return {
    deviceId,
    variantSha: windows.at(-1)?.modelSha ?? null,
    breaches: checks.filter((c) => c.breached).map((c) => c.budget as ControlBudget),
    throttled: judged.some((w) => w.throttled === true),
    p95Ms: fig((w) => w.p95Ms),
    powerW: fig((w) => w.powerW),
    energyMj: fig((w) => w.energyMj),
    accuracy: fig((w) => w.goldenAccuracy),
  };
}

export interface Observer {
  /** Snapshots of every configured class (or the named ones). */
  observe(now: number, classes?: readonly string[]): Promise<ClassSnapshot[]>;
}

export function createObserver(options: ObserveOptions): Observer {
  /** Whether a rollout other than a catch-up is changing the class now. */
  async function holdsClass(deviceClass: string): Promise<boolean> {
    for (const r of await options.rollouts.list({ active: true, deviceClass }))
      if ((await options.desired.origin(r.id)).kind !== 'catch-up') return true;
    return false;
  }

  const horizon = options.activeHorizonMs ?? 60_000;
  const rule = options.rule ?? {};
  const n = rule.n ?? 5;

  async function snapshot(cls: DeviceClass, now: number): Promise<ClassSnapshot> {
    const memory = (await options.control.state(cls.name))?.memory ?? EMPTY_MEMORY;
    const pending = memory.search ?? null;
    const planRow = (await options.plans.list({ deviceClass: cls.name })).at(-1);
    const active = (await options.telemetry.devicesOfClass(cls.name)).filter((d) => d.lastWindowEnd >= now - horizon);
    const devices: DeviceObservation[] = [];
    // Enough windows to judge the current variant even right after a switch.
    for (const d of active)
      devices.push(observeDevice(d.deviceId, await options.telemetry.lastWindows(d.deviceId, n * 3), cls, rule));
    return {
      deviceClass: cls.name,
      at: now,
      budgets: cls.budgets,
      limits: { memoryBytes: cls.capabilities.memoryBytes, storageBytes: cls.capabilities.storageBytes },
      plan: planRow ? planView(planRow.id, planRow.plan) : null,
      // A catch-up of late members does not hold the loop back: a rollout it starts supersedes it.
      rolloutActive: await holdsClass(cls.name),
      devices,
      memory,
      search: pending ? (pending.id !== null && options.searches?.observe(pending.id)) || LOST : null,
    };
  }

  return {
    async observe(now, names) {
      const wanted = names === undefined ? null : new Set(names);
      const snapshots: ClassSnapshot[] = [];
      for (const c of await options.classes.list())
        if (wanted === null || wanted.has(c.name)) snapshots.push(await snapshot(c, now));
      return snapshots;
    },
  };
}
