/**
 * Rollouts on SQLite (migration 10): rollouts, one row per device of a rollout, and the
 * deploy-report dedupe table. JSON columns are decoded with the deployer's schemas.
 */
import { goldenSetSchema, manifestBudgetsSchema } from '@edgefleet/shared';
import {
  deviceFailureSchema,
  previousVariantSchema,
  rolloutPolicySchema,
  type PreviousVariant,
  type RolloutDevice,
  type RolloutRecord,
} from '../../deploy/rollout-model.js';
import { decodeJson, decodeNullableJson } from '../decode.js';
import {
  fencedError,
  type DeploymentTarget,
  type DeviceDeploymentRow,
  type OwnershipFence,
  type RolloutRepository,
} from '../rollouts.js';
import type { RolloutOrigin } from '../desired.js';
import type { Db } from './open.js';

export interface RawRollout {
  id: string;
  class: string;
  variant_id: string;
  artifact_sha: string;
  golden: string;
  budgets: string | null;
  policy: string;
  state: RolloutRecord['state'];
  current_wave: number;
  wave_count: number;
  reason: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}
export interface RawDevice {
  rollout_id: string;
  device_id: string;
  wave: number;
  state: RolloutDevice['state'];
  deployment_id: string;
  previous: string | null;
  rollback_id: string | null;
  agent_state: string | null;
  failure: string | null;
  notified_at: number | null;
  rollback_at: number | null;
  finished_at: number | null;
  updated_at: number;
}

export function toRollout(r: RawRollout): RolloutRecord {
  const at = (column: string) => ({ table: 'rollouts', column, key: r.id });
  return {
    id: r.id,
    deviceClass: r.class,
    variantId: r.variant_id,
    artifactSha: r.artifact_sha,
    golden: decodeJson(goldenSetSchema, r.golden, at('golden')),
    budgets: decodeNullableJson(manifestBudgetsSchema, r.budgets, at('budgets')),
    policy: decodeJson(rolloutPolicySchema, r.policy, at('policy')),
    state: r.state,
    currentWave: r.current_wave,
    waveCount: r.wave_count,
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export function toDevice(r: RawDevice): RolloutDevice {
  const at = (column: string) => ({ table: 'rollout_devices', column, key: r.deployment_id });
  return {
    rolloutId: r.rollout_id,
    deviceId: r.device_id,
    wave: r.wave,
    state: r.state,
    deploymentId: r.deployment_id,
    previous: decodeNullableJson(previousVariantSchema, r.previous, at('previous')),
    rollbackId: r.rollback_id,
    agentState: r.agent_state,
    failure: decodeNullableJson(deviceFailureSchema, r.failure, at('failure')),
    notifiedAt: r.notified_at,
    rollbackAt: r.rollback_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
  };
}

export const rolloutParams = (r: RolloutRecord) => ({
  id: r.id,
  class: r.deviceClass,
  variant_id: r.variantId,
  artifact_sha: r.artifactSha,
  golden: JSON.stringify(r.golden),
  budgets: r.budgets == null ? null : JSON.stringify(r.budgets),
  policy: JSON.stringify(r.policy),
  state: r.state,
  current_wave: r.currentWave,
  wave_count: r.waveCount,
  reason: r.reason,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
  finished_at: r.finishedAt,
});
export const deviceParams = (d: RolloutDevice) => ({
  rollout_id: d.rolloutId,
  device_id: d.deviceId,
  wave: d.wave,
  state: d.state,
  deployment_id: d.deploymentId,
  previous: d.previous === null ? null : JSON.stringify(d.previous),
  rollback_id: d.rollbackId,
  agent_state: d.agentState,
  failure: d.failure === null ? null : JSON.stringify(d.failure),
  notified_at: d.notifiedAt,
  rollback_at: d.rollbackAt,
  finished_at: d.finishedAt,
  updated_at: d.updatedAt,
});

export function createSqliteRolloutRepository(db: Db): RolloutRepository {
  const s = {
    upsertDevice: db.prepare(`INSERT INTO rollout_devices (rollout_id, device_id, wave, state, deployment_id, previous,
        rollback_id, agent_state, failure, notified_at, rollback_at, finished_at, updated_at)
      VALUES (@rollout_id, @device_id, @wave, @state, @deployment_id, @previous, @rollback_id, @agent_state, @failure,
        @notified_at, @rollback_at, @finished_at, @updated_at)
      ON CONFLICT (rollout_id, device_id) DO UPDATE SET state = excluded.state, previous = excluded.previous,
        rollback_id = excluded.rollback_id, agent_state = excluded.agent_state, failure = excluded.failure,
        notified_at = excluded.notified_at, rollback_at = excluded.rollback_at, finished_at = excluded.finished_at,
        updated_at = excluded.updated_at`),
    insertRollout:
      db.prepare(`INSERT INTO rollouts (id, class, variant_id, artifact_sha, golden, budgets, policy, state,
        current_wave, wave_count, reason, created_at, updated_at, finished_at)
      VALUES (@id, @class, @variant_id, @artifact_sha, @golden, @budgets, @policy, @state, @current_wave, @wave_count,
        @reason, @created_at, @updated_at, @finished_at)`),
    updateRollout: db.prepare(`UPDATE rollouts SET state = @state, current_wave = @current_wave, reason = @reason,
      updated_at = @updated_at, finished_at = @finished_at WHERE id = @id`),
    get: db.prepare('SELECT * FROM rollouts WHERE id = ?'),
    list: db.prepare(`SELECT * FROM rollouts WHERE (@class IS NULL OR class = @class)
      AND (@active IS NULL OR (state IN ('in-progress', 'rolling-back')) = @active) ORDER BY created_at, id`),
    devicesOf: db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY wave, device_id'),
    historyOf: db.prepare(`SELECT d.* FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      WHERE d.device_id = ? ORDER BY r.created_at DESC, r.id DESC`),
    byDeployment: db.prepare('SELECT * FROM rollout_devices WHERE deployment_id = ? OR rollback_id = ?'),
    lastInstalled: db.prepare(`SELECT d.*, r.variant_id AS r_variant, r.artifact_sha AS r_sha
      FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      WHERE d.device_id = ? AND d.state IN ('succeeded', 'rolled-back') ORDER BY d.finished_at DESC LIMIT 1`),
    insertOrigin: db.prepare(
      'INSERT OR REPLACE INTO rollout_origins (rollout_id, kind, source_rollout_id, reason) VALUES (?, ?, ?, ?)',
    ),
    recordReport:
      db.prepare(`INSERT OR IGNORE INTO deploy_reports (deployment_id, state, device_id, received_at, report)
      VALUES (?, ?, ?, ?, ?)`),
  };
  const getRollout = (id: string): RolloutRecord | null => {
    const r = s.get.get(id) as RawRollout | undefined;
    return r ? toRollout(r) : null;
  };
  const findByDeployment = (id: string): RolloutDevice | null => {
    const r = s.byDeployment.get(id, id) as RawDevice | undefined;
    return r ? toDevice(r) : null;
  };
  const insert = db.transaction((rollout: RolloutRecord, devices: readonly RolloutDevice[], origin: RolloutOrigin) => {
    s.insertRollout.run(rolloutParams(rollout));
    for (const d of devices) s.upsertDevice.run(deviceParams(d));
    const catchUp = origin.kind === 'catch-up' ? origin : null;
    s.insertOrigin.run(rollout.id, origin.kind, catchUp?.sourceRolloutId ?? null, catchUp?.reason ?? null);
  });
  const fenceToken = db.prepare<[string], { token: number }>('SELECT token FROM ownership_fences WHERE key = ?');
  const save = db.transaction((rollout: RolloutRecord, devices: readonly RolloutDevice[], fence?: OwnershipFence) => {
    // One process owns a SQLite store, so no later tenure exists; the check keeps both stores to one contract.
    const current = fence ? fenceToken.get(fence.key)?.token : undefined;
    if (fence && current !== undefined && current > fence.token) throw fencedError(fence, current);
    s.updateRollout.run(rolloutParams(rollout));
    for (const d of devices) s.upsertDevice.run(deviceParams(d));
  });
  function deploymentTarget(id: string): DeploymentTarget | null {
    const d = findByDeployment(id);
    if (!d) return null;
    if (d.rollbackId === id)
      return d.previous
        ? { rolloutId: d.rolloutId, deviceId: d.deviceId, sha256: d.previous.sha256, purpose: 'rollback' }
        : null;
    const r = getRollout(d.rolloutId);
    return r ? { rolloutId: r.id, deviceId: d.deviceId, sha256: r.artifactSha, purpose: 'rollout' } : null;
  }
  function historyOf(deviceId: string): DeviceDeploymentRow[] {
    // A device is in few rollouts; one indexed lookup per rollout keeps each row's decoding in one place.
    return (s.historyOf.all(deviceId) as RawDevice[]).flatMap((raw) => {
      const rollout = getRollout(raw.rollout_id);
      return rollout ? [{ rollout, device: toDevice(raw) }] : [];
    });
  }
  function lastInstalled(deviceId: string): PreviousVariant | null {
    const r = s.lastInstalled.get(deviceId) as (RawDevice & { r_variant: string; r_sha: string }) | undefined;
    if (!r) return null;
    if (r.state === 'succeeded') return { variantId: r.r_variant, sha256: r.r_sha, rolloutId: r.rollout_id };
    return toDevice(r).previous;
  }
  return Object.freeze({
    insert: async (rollout, devices, origin = { kind: 'class' }) => {
      insert(rollout, devices, origin);
    },
    get: async (id) => getRollout(id),
    list: async (filter = {}) =>
      (
        s.list.all({
          class: filter.deviceClass ?? null,
          active: filter.active === undefined ? null : Number(filter.active),
        }) as RawRollout[]
      ).map(toRollout),
    devicesOf: async (id) => (s.devicesOf.all(id) as RawDevice[]).map(toDevice),
    save: async (rollout, devices, fence) => {
      save(rollout, devices, fence);
    },
    historyOf: async (deviceId) => historyOf(deviceId),
    findByDeployment: async (id) => findByDeployment(id),
    deploymentTarget: async (id) => deploymentTarget(id),
    lastInstalled: async (deviceId) => lastInstalled(deviceId),
    recordReport: async (deploymentId, state, deviceId, receivedAt, report) =>
      s.recordReport.run(deploymentId, state, deviceId, receivedAt, JSON.stringify(report)).changes === 1,
  } satisfies RolloutRepository);
}
