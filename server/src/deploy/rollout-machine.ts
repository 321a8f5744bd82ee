/**
 * The rollout state machine, pure: `decide(snapshot, now)` returns the next records and the
 * actions to take (publish a manifest, publish a rollback, clear a device's desired state).
 * The service persists the records first and then acts, so a crash between the two is
 * repaired on restart by re-publishing for every device still in flight.
 *
 * One evaluation runs the steps of {@link ROLLOUT_STEPS} in order, each applying only in
 * the rollout states it lists (as aedes lays out its connect handshake) [STYLE 3].
 */
import type { DeployReport } from '@edgefleet/shared';
import {
  IN_FLIGHT_STATES,
  rollbackIdFor,
  type PreviousVariant,
  type RolloutDevice,
  type RolloutRecord,
  type RolloutState,
} from './rollout-model.js';

export interface RolloutSnapshot {
  readonly rollout: RolloutRecord;
  readonly devices: readonly RolloutDevice[];
}

export type RolloutAction =
  | { readonly kind: 'deploy'; readonly deviceId: string; readonly deploymentId: string }
  | {
      readonly kind: 'rollback';
      readonly deviceId: string;
      readonly deploymentId: string;
      readonly previous: PreviousVariant;
    }
  | { readonly kind: 'clear'; readonly deviceId: string };

export interface RolloutDecision {
  readonly rollout: RolloutRecord;
  /** Device rows that changed. */
  readonly changed: readonly RolloutDevice[];
  readonly actions: readonly RolloutAction[];
  /** Names of the steps that changed something, for logs and tests. */
  readonly fired: readonly string[];
}

/** Mutable working copy a step edits. */
interface Draft {
  rollout: RolloutRecord;
  readonly devices: Map<string, RolloutDevice>;
  readonly changed: Set<string>;
  readonly actions: RolloutAction[];
  readonly now: number;
}

export interface RolloutStep {
  readonly name: string;
  readonly states: readonly RolloutState[];
  /** Returns true when it changed something. */
  run(draft: Draft): boolean;
}

function setDevice(d: Draft, device: RolloutDevice, patch: Partial<RolloutDevice>): void {
  d.devices.set(device.deviceId, { ...device, ...patch, updatedAt: d.now });
  d.changed.add(device.deviceId);
}

function setRollout(d: Draft, patch: Partial<RolloutRecord>): void {
  d.rollout = { ...d.rollout, ...patch, updatedAt: d.now };
}

/** Outcome counts of the new variant over all waves so far (the abort criteria's base). */
export function outcomeCounts(devices: Iterable<RolloutDevice>): {
  finished: number;
  succeeded: number;
  failed: number;
  timedOut: number;
} {
  let succeeded = 0;
  let failed = 0;
  let timedOut = 0;
  for (const dev of devices) {
    if (dev.state === 'succeeded') succeeded += 1;
    else if (dev.state === 'failed' && dev.rollbackId === null) failed += 1;
    else if (dev.state === 'timed-out' && dev.rollbackId === null) timedOut += 1;
    else if (dev.rollbackId !== null) {
      // After an abort the row holds the rollback's state; what the new variant did is in agentState.
      if (dev.failure?.step === 'timeout') timedOut += 1;
      else if (dev.failure !== null) failed += 1;
      else succeeded += 1;
    }
  }
  return { finished: succeeded + failed + timedOut, succeeded, failed, timedOut };
}

/** Why the abort criteria fire, or null [AWS AbortCriteria: thresholdPercentage after minNumberOfExecutedThings]. */
export function abortReason(rollout: RolloutRecord, devices: Iterable<RolloutDevice>): string | null {
  const c = outcomeCounts(devices);
  const { failedPct, timedOutPct, minFinished } = rollout.policy.abort;
  if (c.finished < minFinished) return null;
  const failedShare = (100 * c.failed) / c.finished;
  const timedOutShare = (100 * c.timedOut) / c.finished;
  if (failedPct !== null && c.failed > 0 && failedShare >= failedPct)
    return `failed ${c.failed}/${c.finished} (${failedShare.toFixed(1)}% ≥ ${failedPct}%)`;
  if (timedOutPct !== null && c.timedOut > 0 && timedOutShare >= timedOutPct)
    return `timed out ${c.timedOut}/${c.finished} (${timedOutShare.toFixed(1)}% ≥ ${timedOutPct}%)`;
  return null;
}

const timeOutDevices: RolloutStep = {
  name: 'time-out-devices',
  states: ['in-progress', 'rolling-back'],
  run(d) {
    let fired = false;
    const limit = d.rollout.policy.deviceTimeoutMs;
    for (const dev of d.devices.values()) {
      if (IN_FLIGHT_STATES.has(dev.state) && dev.notifiedAt !== null && d.now - dev.notifiedAt >= limit) {
        setDevice(d, dev, {
          state: 'timed-out',
          finishedAt: d.now,
          failure: {
            step: 'timeout',
            reason: 'device-timeout',
            detail: `no terminal report within ${limit} ms (last state ${dev.agentState ?? 'none'})`,
          },
        });
        fired = true;
      } else if (dev.state === 'rolling-back' && dev.rollbackAt !== null && d.now - dev.rollbackAt >= limit) {
        setDevice(d, dev, {
          state: 'timed-out',
          finishedAt: d.now,
          failure: {
            step: dev.failure?.step ?? 'rollback',
            reason: 'rollback-timeout',
            detail:
              `rollback not confirmed within ${limit} ms; ` +
              `${dev.failure?.detail ?? 'the new variant had succeeded'}`,
          },
        });
        fired = true;
      }
    }
    return fired;
  },
};

function abort(d: Draft, reason: string): void {
  setRollout(d, { state: 'rolling-back', reason });
  for (const dev of d.devices.values())
    if (dev.state === 'pending') setDevice(d, dev, { state: 'cancelled', finishedAt: d.now });
}

const checkAbortCriteria: RolloutStep = {
  name: 'check-abort-criteria',
  states: ['in-progress'],
  run(d) {
    const reason = abortReason(d.rollout, d.devices.values());
    if (reason === null) return false;
    abort(d, `abort criteria met: ${reason}`);
    return true;
  },
};

const checkRolloutTimeout: RolloutStep = {
  name: 'check-rollout-timeout',
  states: ['in-progress'],
  run(d) {
    if (d.now - d.rollout.createdAt < d.rollout.policy.rolloutTimeoutMs) return false;
    abort(d, `rollout timed out after ${d.rollout.policy.rolloutTimeoutMs} ms`);
    return true;
  },
};

/**
 * After an abort: devices that hold (or may hold) the new variant get a rollback manifest
 * naming their previous variant; those without one get their desired state cleared; devices
 * whose agent already refused the variant only get desired cleared (they serve the old one).
 */
const startRollbacks: RolloutStep = {
  name: 'start-rollbacks',
  states: ['rolling-back'],
  run(d) {
    let fired = false;
    for (const dev of d.devices.values()) {
      if (dev.rollbackId !== null) continue;
      const holdsNew = dev.state === 'succeeded' || dev.state === 'timed-out' || IN_FLIGHT_STATES.has(dev.state);
      if (dev.state === 'failed') {
        d.actions.push({ kind: 'clear', deviceId: dev.deviceId });
        setDevice(d, dev, { rollbackId: '' });
        fired = true;
      } else if (holdsNew && dev.previous !== null) {
        const rollbackId = rollbackIdFor(dev.deploymentId);
        d.actions.push({ kind: 'rollback', deviceId: dev.deviceId, deploymentId: rollbackId, previous: dev.previous });
        const failure = IN_FLIGHT_STATES.has(dev.state)
          ? { step: 'aborted', reason: 'aborted-in-flight', detail: 'the rollout aborted before this device finished' }
          : dev.failure;
        setDevice(d, dev, { state: 'rolling-back', rollbackId, rollbackAt: d.now, failure, finishedAt: null });
        fired = true;
      } else if (holdsNew) {
        d.actions.push({ kind: 'clear', deviceId: dev.deviceId });
        const state = dev.state === 'succeeded' ? 'succeeded' : dev.state === 'timed-out' ? 'timed-out' : 'failed';
        setDevice(d, dev, {
          state,
          rollbackId: '',
          finishedAt: dev.finishedAt ?? d.now,
          failure:
            dev.failure ??
            (state === 'failed'
              ? {
                  step: 'aborted',
                  reason: 'no-previous-variant',
                  detail: 'aborted in flight; no earlier variant to roll back to, desired state cleared',
                }
              : null),
        });
        fired = true;
      }
    }
    return fired;
  },
};

const advanceWave: RolloutStep = {
  name: 'advance-wave',
  states: ['in-progress'],
  run(d) {
    let fired = false;
    for (;;) {
      const wave = d.rollout.currentWave;
      const members = [...d.devices.values()].filter((dev) => dev.wave === wave);
      const pending = members.filter((dev) => dev.state === 'pending');
      if (pending.length > 0) {
        // Only the current wave is ever notified: the invariant "no device outside the current wave receives the
        // variant".
        for (const dev of pending) {
          d.actions.push({ kind: 'deploy', deviceId: dev.deviceId, deploymentId: dev.deploymentId });
          setDevice(d, dev, { state: 'notified', notifiedAt: d.now });
        }
        return true;
      }
      if (members.some((dev) => IN_FLIGHT_STATES.has(dev.state))) return fired;
      if (wave + 1 >= d.rollout.waveCount) return fired;
      setRollout(d, { currentWave: wave + 1 });
      fired = true;
    }
  },
};

const finish: RolloutStep = {
  name: 'finish',
  states: ['in-progress', 'rolling-back'],
  run(d) {
    const devices = [...d.devices.values()];
    if (d.rollout.state === 'in-progress') {
      const last = d.rollout.currentWave + 1 >= d.rollout.waveCount;
      if (!last || devices.some((dev) => dev.state === 'pending' || IN_FLIGHT_STATES.has(dev.state))) return false;
      setRollout(d, { state: 'completed', finishedAt: d.now });
      return true;
    }
    if (devices.some((dev) => dev.state === 'rolling-back' || IN_FLIGHT_STATES.has(dev.state))) return false;
    setRollout(d, { state: 'aborted', finishedAt: d.now });
    return true;
  },
};

/** The evaluation, in order. */
export const ROLLOUT_STEPS: readonly RolloutStep[] = [
  timeOutDevices,
  checkAbortCriteria,
  checkRolloutTimeout,
  startRollbacks,
  advanceWave,
  finish,
];

/** One evaluation tick. Pure: the snapshot is not modified. */
export function decide(snapshot: RolloutSnapshot, now: number): RolloutDecision {
  const d: Draft = {
    rollout: snapshot.rollout,
    devices: new Map(snapshot.devices.map((dev) => [dev.deviceId, dev])),
    changed: new Set(),
    actions: [],
    now,
  };
  const fired: string[] = [];
  for (const step of ROLLOUT_STEPS) {
    if (!step.states.includes(d.rollout.state)) continue;
    if (step.run(d)) fired.push(step.name);
  }
  return {
    rollout: d.rollout,
    changed: [...d.changed].map((id) => d.devices.get(id) as RolloutDevice),
    actions: d.actions,
    fired,
  };
}

/**
 * Manual abort (`edgefleet rollout abort`), the first half: the rollout turns `rolling-back`
 * and devices of waves not yet reached are cancelled. No action is taken; the next evaluation
 * (`decide`, whose `start-rollbacks` step runs in `rolling-back`) sends the rollbacks. A
 * process without a broker records only this; the server carries out the rest.
 */
export function markAborted(snapshot: RolloutSnapshot, reason: string, now: number): RolloutDecision {
  if (snapshot.rollout.state !== 'in-progress')
    return { rollout: snapshot.rollout, changed: [], actions: [], fired: [] };
  const d: Draft = {
    rollout: snapshot.rollout,
    devices: new Map(snapshot.devices.map((dev) => [dev.deviceId, dev])),
    changed: new Set(),
    actions: [],
    now,
  };
  abort(d, reason);
  return {
    rollout: d.rollout,
    changed: [...d.changed].map((id) => d.devices.get(id) as RolloutDevice),
    actions: [],
    fired: ['abort'],
  };
}

/** Manual abort carried out at once: {@link markAborted}, then the evaluation that sends the rollbacks. */
export function decideAbort(snapshot: RolloutSnapshot, reason: string, now: number): RolloutDecision {
  const marked = markAborted(snapshot, reason, now);
  if (marked.fired.length === 0) return marked;
  const byId = new Map(snapshot.devices.map((dev) => [dev.deviceId, dev]));
  for (const dev of marked.changed) byId.set(dev.deviceId, dev);
  const rest = decide({ rollout: marked.rollout, devices: [...byId.values()] }, now);
  const changed = new Map(marked.changed.map((dev) => [dev.deviceId, dev]));
  for (const dev of rest.changed) changed.set(dev.deviceId, dev);
  return {
    rollout: rest.rollout,
    changed: [...changed.values()],
    actions: rest.actions,
    fired: ['abort', ...rest.fired],
  };
}

/**
 * Applies an agent's deploy report to its device row; returns the new row, or null when the
 * report changes nothing (late, for a finished deployment, or for another deployment).
 */
export function applyReport(dev: RolloutDevice, report: DeployReport, now: number): RolloutDevice | null {
  const failure = report.failure
    ? { step: report.failure.step, reason: report.failure.reason, detail: report.failure.detail }
    : null;
  if (report.deploymentId === dev.deploymentId) {
    if (!IN_FLIGHT_STATES.has(dev.state)) return null;
    const base = { ...dev, agentState: report.state, updatedAt: now };
    if (report.state === 'succeeded') return { ...base, state: 'succeeded', finishedAt: now };
    // The agent's own rollback (switched, then restored its last-known-good) is a failure of the variant.
    if (report.state === 'failed' || report.state === 'rolled-back')
      return { ...base, state: 'failed', finishedAt: now, failure };
    return { ...base, state: 'in-progress' };
  }
  if (dev.rollbackId !== null && report.deploymentId === dev.rollbackId) {
    if (dev.state !== 'rolling-back') return null;
    const base = { ...dev, agentState: `rollback:${report.state}`, updatedAt: now };
    if (report.state === 'succeeded') return { ...base, state: 'rolled-back', finishedAt: now };
    if (report.state === 'failed' || report.state === 'rolled-back') {
      return {
        ...base,
        state: 'failed',
        finishedAt: now,
        failure: {
          step: failure?.step ?? 'rollback',
          reason: 'rollback-failed',
          detail: `rollback failed: ${failure?.reason ?? ''} ${failure?.detail ?? ''}`.trim(),
        },
      };
    }
    return base;
  }
  return null;
}
