/**
 * The rollout state machine as pure data: wave planning, wave advance, abort math
 * (threshold after a minimum finished), timeouts ending in terminal states, rollbacks, and
 * the invariant that no device outside the current wave is ever sent the new variant.
 */
import t from 'tap';
import type { DeployReport } from '@edgefleet/shared';
import {
  abortReason,
  applyReport,
  decide,
  decideAbort,
  deploymentIdFor,
  planWaveSizes,
  rolloutPolicySchema,
  TERMINAL_DEVICE_STATES,
  type RolloutDevice,
  type RolloutPolicyInput,
  type RolloutRecord,
  type RolloutSnapshot,
} from '@edgefleet/server/deploy/index';

const SHA = 'a'.repeat(64);
const PREV = 'b'.repeat(64);

function snapshot(n: number, policyInput: RolloutPolicyInput = {}, withPrevious = true): RolloutSnapshot {
  const policy = rolloutPolicySchema.parse(policyInput);
  const sizes = planWaveSizes(n, policy);
  const rollout: RolloutRecord = {
    id: 'ro-1',
    deviceClass: 'c',
    variantId: 'v2',
    artifactSha: SHA,
    golden: { inputs: {}, labels: [0], minAccuracy: 0 },
    budgets: null,
    policy,
    state: 'in-progress',
    currentWave: 0,
    waveCount: sizes.length,
    reason: null,
    createdAt: 0,
    updatedAt: 0,
    finishedAt: null,
  };
  const devices: RolloutDevice[] = [];
  let wave = 0;
  let inWave = 0;
  for (let i = 0; i < n; i += 1) {
    if (inWave >= (sizes[wave] ?? 0)) {
      wave += 1;
      inWave = 0;
    }
    inWave += 1;
    devices.push({
      rolloutId: 'ro-1',
      deviceId: `d${String(i).padStart(2, '0')}`,
      wave,
      state: 'pending',
      deploymentId: deploymentIdFor('ro-1', i),
      previous: withPrevious ? { variantId: 'v1', sha256: PREV, rolloutId: null } : null,
      rollbackId: null,
      agentState: null,
      failure: null,
      notifiedAt: null,
      rollbackAt: null,
      finishedAt: null,
      updatedAt: 0,
    });
  }
  return { rollout, devices };
}

/** Runs decide and merges the changed rows back, as the service does. */
function step(s: RolloutSnapshot, now: number): { s: RolloutSnapshot; d: ReturnType<typeof decide> } {
  const d = decide(s, now);
  const byId = new Map(s.devices.map((x) => [x.deviceId, x]));
  for (const c of d.changed) byId.set(c.deviceId, c);
  return { s: { rollout: d.rollout, devices: [...byId.values()] }, d };
}

function report(dev: RolloutDevice, state: DeployReport['state'], deploymentId = dev.deploymentId): DeployReport {
  return {
    type: 'deploy-report',
    v: 1,
    deviceId: dev.deviceId,
    deploymentId,
    rolloutId: 'ro-1',
    variantId: 'v2',
    sha256: SHA,
    state,
    ...(state === 'failed'
      ? { failure: { step: 'smoke-test' as const, reason: 'accuracy-below-minimum' as const, detail: 'x' } }
      : {}),
    chunks: { total: 1, fetched: 1, reused: 0, corrupt: 0 },
    serving: null,
    sentAt: 0,
  };
}

function reportAll(
  s: RolloutSnapshot,
  pred: (d: RolloutDevice) => boolean,
  state: DeployReport['state'],
  now: number,
  rollback = false,
): RolloutSnapshot {
  return {
    ...s,
    devices: s.devices.map((d) =>
      pred(d) ? (applyReport(d, report(d, state, rollback ? (d.rollbackId ?? '') : d.deploymentId), now) ?? d) : d,
    ),
  };
}

t.test('wave sizes: canary by percent or count, then base × growth^k, last wave cut', async (t) => {
  const p = (x: RolloutPolicyInput) => rolloutPolicySchema.parse(x);
  t.same(planWaveSizes(10, p({ canary: { percent: 10 }, baseCount: 2, growthFactor: 2 })), [1, 2, 4, 3]);
  t.same(planWaveSizes(100, p({ canary: { count: 5 }, baseCount: 10, growthFactor: 1.5 })), [5, 10, 15, 23, 34, 13]);
  t.same(planWaveSizes(3, p({ canary: { percent: 1 } })), [1, 2], 'a 1% canary of 3 is still one device');
  t.same(planWaveSizes(2, p({ canary: { count: 5 } })), [2]);
  t.same(planWaveSizes(0, p({})), []);
  t.equal(
    planWaveSizes(1000, p({ canary: { percent: 10 }, baseCount: 50, growthFactor: 2 })).reduce((a, b) => a + b, 0),
    1000,
  );
});

t.test('success across waves: only the current wave is ever notified, then completed', async (t) => {
  let s = snapshot(10, { canary: { percent: 10 }, baseCount: 2, growthFactor: 2 });
  const notifiedAtWave: string[][] = [];
  let now = 0;
  for (let guard = 0; guard < 20 && s.rollout.state === 'in-progress'; guard += 1) {
    const r = step(s, now);
    s = r.s;
    const deployed = r.d.actions.filter((a) => a.kind === 'deploy').map((a) => a.deviceId);
    if (deployed.length > 0) {
      const waves = new Set(deployed.map((id) => s.devices.find((d) => d.deviceId === id)?.wave));
      t.equal(waves.size, 1, 'one tick notifies one wave');
      t.ok(waves.has(s.rollout.currentWave), 'and it is the current wave');
      t.notOk(
        s.devices.some((d) => d.wave > s.rollout.currentWave && d.state !== 'pending'),
        'no device beyond the current wave was touched',
      );
      notifiedAtWave.push(deployed);
    }
    now += 1000;
    s = reportAll(s, (d) => d.state === 'notified', 'downloading', now);
    s = reportAll(s, (d) => d.state === 'in-progress', 'succeeded', now);
  }
  t.same(
    notifiedAtWave.map((w) => w.length),
    [1, 2, 4, 3],
  );
  t.equal(s.rollout.state, 'completed');
  t.ok(s.devices.every((d) => d.state === 'succeeded'));
  t.ok(s.rollout.finishedAt !== null);
});

t.test('abort math: threshold % of finished, only after the minimum finished', async (t) => {
  const s = snapshot(10, { abort: { failedPct: 30, timedOutPct: null, minFinished: 4 } });
  const mark = (states: RolloutDevice['state'][]) => ({
    ...s,
    devices: s.devices.map((d, i) => ({ ...d, state: states[i] ?? 'pending' })),
  });
  t.equal(
    abortReason(s.rollout, mark(['failed', 'failed', 'succeeded']).devices),
    null,
    '2 of 3 failed, but fewer than 4 finished',
  );
  t.match(
    abortReason(s.rollout, mark(['failed', 'failed', 'succeeded', 'succeeded']).devices),
    /failed 2\/4 \(50\.0% ≥ 30%\)/,
  );
  t.equal(
    abortReason(s.rollout, mark(['failed', 'succeeded', 'succeeded', 'succeeded', 'in-progress']).devices),
    null,
    '25% < 30%',
  );
  t.equal(
    abortReason(s.rollout, mark(['timed-out', 'timed-out', 'timed-out', 'timed-out']).devices),
    null,
    'timeouts do not count when their criterion is off',
  );
  const t2 = snapshot(10, { abort: { failedPct: null, timedOutPct: 50, minFinished: 2 } });
  t.match(abortReason(t2.rollout, mark(['timed-out', 'succeeded']).devices), /timed out 1\/2/);
});

t.test('a failing canary aborts within one tick; later waves are cancelled, never notified', async (t) => {
  let s = snapshot(10, { canary: { count: 2 }, abort: { failedPct: 50, minFinished: 2 } });
  s = step(s, 0).s;
  s = reportAll(s, (d) => d.state === 'notified', 'failed', 10);
  const r = step(s, 20);
  s = r.s;
  t.equal(s.rollout.state, 'aborted', 'nothing updated, so the abort finishes at once');
  t.match(s.rollout.reason, /abort criteria met: failed 2\/2/);
  t.same(
    r.d.actions.filter((a) => a.kind === 'deploy'),
    [],
    'no manifest sent in the aborting tick',
  );
  t.same(
    r.d.actions.map((a) => a.kind),
    ['clear', 'clear'],
    'failed devices get their desired state cleared',
  );
  t.equal(s.devices.filter((d) => d.state === 'cancelled').length, 8);
  t.ok(
    s.devices.filter((d) => d.wave > 0).every((d) => d.notifiedAt === null),
    'no later-wave device ever notified',
  );
  t.ok(
    s.devices.every((d) => TERMINAL_DEVICE_STATES.has(d.state)),
    'every device terminal',
  );
});

t.test('abort after updates: updated devices roll back to their previous variant', async (t) => {
  let s = snapshot(10, { canary: { count: 2 }, baseCount: 3, abort: { failedPct: 40, minFinished: 3 } });
  s = step(s, 0).s;
  s = reportAll(s, (d) => d.state === 'notified', 'succeeded', 5);
  s = step(s, 10).s; // wave 1: 3 devices
  t.equal(s.rollout.currentWave, 1);
  const wave1 = s.devices.filter((d) => d.wave === 1).map((d) => d.deviceId);
  s = reportAll(s, (d) => d.deviceId === wave1[0] || d.deviceId === wave1[1], 'failed', 15);
  s = reportAll(s, (d) => d.deviceId === wave1[2], 'downloading', 15);
  const r = step(s, 20);
  s = r.s;
  t.equal(s.rollout.state, 'rolling-back', '2 failed of 4 finished = 50% ≥ 40%');
  const rollbacks = r.d.actions.filter((a) => a.kind === 'rollback');
  t.same(
    rollbacks.map((a) => a.deviceId).sort(),
    ['d00', 'd01', wave1[2]].sort(),
    'both canaries and the in-flight device roll back',
  );
  t.ok(rollbacks.every((a) => a.kind === 'rollback' && a.previous.sha256 === PREV && a.deploymentId.endsWith('.rb')));
  t.equal(step(s, 25).d.actions.length, 0, 'the next tick sends nothing again');
  s = reportAll(s, (d) => d.state === 'rolling-back', 'succeeded', 30, true);
  s = step(s, 40).s;
  t.equal(s.rollout.state, 'aborted');
  t.same(
    s.devices
      .filter((d) => d.state === 'rolled-back')
      .map((d) => d.deviceId)
      .sort(),
    ['d00', 'd01', wave1[2]].sort(),
  );
  t.ok(s.devices.every((d) => TERMINAL_DEVICE_STATES.has(d.state)));
});

t.test(
  'timeouts: silent devices end timed-out; a rollback that is never confirmed ends too; no rollout outlives ' +
    'its timeout',
  async (t) => {
    let s = snapshot(4, {
      canary: { count: 2 },
      deviceTimeoutMs: 1000,
      abort: { failedPct: 50, timedOutPct: 50, minFinished: 2 },
    });
    s = step(s, 0).s;
    s = reportAll(s, (d) => d.deviceId === 'd00', 'succeeded', 100);
    s = step(s, 999).s;
    t.equal(s.devices.find((d) => d.deviceId === 'd01')?.state, 'notified', 'not yet');
    const r = step(s, 1000);
    s = r.s;
    t.equal(s.devices.find((d) => d.deviceId === 'd01')?.failure?.reason, 'device-timeout');
    t.equal(s.rollout.state, 'rolling-back', '1 of 2 timed out = 50%');
    s = step(s, 1500).s;
    s = step(s, 2100).s;
    t.equal(s.rollout.state, 'aborted', 'unconfirmed rollbacks time out as well');
    t.ok(s.devices.every((d) => TERMINAL_DEVICE_STATES.has(d.state)));

    let u = snapshot(3, { canary: { count: 1 }, deviceTimeoutMs: 10_000, rolloutTimeoutMs: 5000 }, false);
    u = step(u, 0).s;
    u = step(u, 5000).s;
    t.equal(u.rollout.state, 'aborted', 'rollout timeout; nothing to roll back (no previous), so it ends at once');
    t.match(u.rollout.reason, /timed out after 5000/);
    t.ok(u.devices.every((d) => TERMINAL_DEVICE_STATES.has(d.state)));
  },
);

t.test('reports: late or foreign reports change nothing; an agent-side rollback counts as a failure', async (t) => {
  let s = snapshot(2, { canary: { count: 2 } });
  s = step(s, 0).s;
  const d0 = s.devices[0] as RolloutDevice;
  t.equal(applyReport(d0, report(d0, 'downloading', 'other-id'), 1), null);
  const failed = applyReport(d0, report(d0, 'rolled-back'), 1);
  t.equal(failed?.state, 'failed');
  t.equal(applyReport(failed as RolloutDevice, report(d0, 'succeeded'), 2), null, 'terminal stays terminal');
  const manual = decideAbort(s, 'operator', 5);
  t.equal(manual.rollout.state, 'rolling-back');
  t.equal(manual.rollout.reason, 'operator');
  t.equal(manual.actions.filter((a) => a.kind === 'rollback').length, 2, 'in-flight devices are rolled back');
  t.same(
    decideAbort({ rollout: manual.rollout, devices: s.devices }, 'again', 6).actions,
    [],
    'aborting twice does nothing',
  );
});
