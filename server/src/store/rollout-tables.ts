/**
 * Rows of the deployer's tables (migration 10): artifact layouts, rollouts, one row per
 * device of a rollout, and the deploy-report dedupe table. Types come from the deployer's
 * model (type-only import); JSON columns are written and read here.
 */
import type { DeviceFailure, PreviousVariant, RolloutDevice, RolloutRecord } from '../deploy/rollout-model.js';
import type { Db } from './db.js';

/** Stored layout of an artifact: sha256 of the file and of each chunk. */
export interface ArtifactRow {
  readonly sha256: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunks: readonly string[];
  readonly createdAt: number;
  /** Set when the artifact travels encoded [EF-PROTO 6.3]; the chunks then cut the encoded bytes. */
  readonly encoding?: 'gzip';
  readonly encodedSize?: number;
}

/** Where a deployment id points: the device and the artifact it may fetch. */
export interface DeploymentTarget {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly sha256: string;
  readonly purpose: 'rollout' | 'rollback';
}

export interface RolloutTables {
  getArtifact(sha256: string): ArtifactRow | null;
  putArtifact(row: ArtifactRow): void;
  insertRollout(rollout: RolloutRecord, devices: readonly RolloutDevice[]): void;
  getRollout(id: string): RolloutRecord | null;
  listRollouts(filter?: { readonly active?: boolean; readonly deviceClass?: string }): RolloutRecord[];
  devicesOf(rolloutId: string): RolloutDevice[];
  /** Saves a rollout and changed device rows in one transaction. */
  save(rollout: RolloutRecord, devices: readonly RolloutDevice[]): void;
  /** The rollout device row owning a deployment id (new variant or rollback). */
  findByDeployment(deploymentId: string): RolloutDevice | null;
  /** What a deployment id lets a device fetch; null for an unknown id. */
  deploymentTarget(deploymentId: string): DeploymentTarget | null;
  /** The variant a device most recently finished installing through a rollout (or rollback). */
  lastInstalled(deviceId: string): PreviousVariant | null;
  /** Records a report once per (deployment, state); false when it was seen before. */
  recordReport(deploymentId: string, state: string, deviceId: string, receivedAt: number, report: unknown): boolean;
}

interface RawRollout {
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
interface RawDevice {
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

const toRollout = (r: RawRollout): RolloutRecord => ({
  id: r.id,
  deviceClass: r.class,
  variantId: r.variant_id,
  artifactSha: r.artifact_sha,
  golden: JSON.parse(r.golden) as RolloutRecord['golden'],
  budgets: r.budgets === null ? null : (JSON.parse(r.budgets) as RolloutRecord['budgets']),
  policy: JSON.parse(r.policy) as RolloutRecord['policy'],
  state: r.state,
  currentWave: r.current_wave,
  waveCount: r.wave_count,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
});
const toDevice = (r: RawDevice): RolloutDevice => ({
  rolloutId: r.rollout_id,
  deviceId: r.device_id,
  wave: r.wave,
  state: r.state,
  deploymentId: r.deployment_id,
  previous: r.previous === null ? null : (JSON.parse(r.previous) as PreviousVariant),
  rollbackId: r.rollback_id,
  agentState: r.agent_state,
  failure: r.failure === null ? null : (JSON.parse(r.failure) as DeviceFailure),
  notifiedAt: r.notified_at,
  rollbackAt: r.rollback_at,
  finishedAt: r.finished_at,
  updatedAt: r.updated_at,
});
const rolloutParams = (r: RolloutRecord) => ({
  id: r.id,
  class: r.deviceClass,
  variant_id: r.variantId,
  artifact_sha: r.artifactSha,
  golden: JSON.stringify(r.golden),
  budgets: r.budgets === null || r.budgets === undefined ? null : JSON.stringify(r.budgets),
  policy: JSON.stringify(r.policy),
  state: r.state,
  current_wave: r.currentWave,
  wave_count: r.waveCount,
  reason: r.reason,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
  finished_at: r.finishedAt,
});
const deviceParams = (d: RolloutDevice) => ({
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

/** Creates the repository over an open, migrated connection. */
export function createRolloutTables(db: Db): RolloutTables {
  const upsertDevice = (d: RolloutDevice): void => {
    db.prepare(`INSERT INTO rollout_devices (rollout_id, device_id, wave, state, deployment_id, previous, rollback_id, agent_state, failure, notified_at, rollback_at, finished_at, updated_at)
      VALUES (@rollout_id, @device_id, @wave, @state, @deployment_id, @previous, @rollback_id, @agent_state, @failure, @notified_at, @rollback_at, @finished_at, @updated_at)
      ON CONFLICT (rollout_id, device_id) DO UPDATE SET state = excluded.state, previous = excluded.previous, rollback_id = excluded.rollback_id,
        agent_state = excluded.agent_state, failure = excluded.failure, notified_at = excluded.notified_at, rollback_at = excluded.rollback_at,
        finished_at = excluded.finished_at, updated_at = excluded.updated_at`).run(deviceParams(d));
  };
  const updateRollout = (r: RolloutRecord): void => {
    db.prepare(
      `UPDATE rollouts SET state = @state, current_wave = @current_wave, reason = @reason, updated_at = @updated_at, finished_at = @finished_at WHERE id = @id`,
    ).run(rolloutParams(r));
  };
  const getRollout = (id: string): RolloutRecord | null => {
    const r = db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RawRollout | undefined;
    return r ? toRollout(r) : null;
  };
  const findByDeployment = (id: string): RolloutDevice | null => {
    const r = db.prepare('SELECT * FROM rollout_devices WHERE deployment_id = ? OR rollback_id = ?').get(id, id) as
      | RawDevice
      | undefined;
    return r ? toDevice(r) : null;
  };
  return {
    getArtifact(sha) {
      const r = db.prepare('SELECT * FROM artifacts WHERE sha256 = ?').get(sha) as
        | {
            sha256: string;
            size: number;
            chunk_size: number;
            chunks: string;
            created_at: number;
            encoding: string | null;
            encoded_size: number | null;
          }
        | undefined;
      return r
        ? {
            sha256: r.sha256,
            size: r.size,
            chunkSize: r.chunk_size,
            chunks: JSON.parse(r.chunks) as string[],
            createdAt: r.created_at,
            ...(r.encoding === 'gzip' && r.encoded_size !== null
              ? { encoding: 'gzip' as const, encodedSize: r.encoded_size }
              : {}),
          }
        : null;
    },
    putArtifact(row) {
      db.prepare(
        'INSERT OR IGNORE INTO artifacts (sha256, size, chunk_size, chunks, created_at, encoding, encoded_size) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(
        row.sha256,
        row.size,
        row.chunkSize,
        JSON.stringify(row.chunks),
        row.createdAt,
        row.encoding ?? null,
        row.encodedSize ?? null,
      );
    },
    insertRollout: (rollout, devices) =>
      db.transaction(() => {
        db.prepare(`INSERT INTO rollouts (id, class, variant_id, artifact_sha, golden, budgets, policy, state, current_wave, wave_count, reason, created_at, updated_at, finished_at)
        VALUES (@id, @class, @variant_id, @artifact_sha, @golden, @budgets, @policy, @state, @current_wave, @wave_count, @reason, @created_at, @updated_at, @finished_at)`).run(
          rolloutParams(rollout),
        );
        for (const d of devices) upsertDevice(d);
      })(),
    getRollout,
    listRollouts(filter = {}) {
      const rows = db.prepare('SELECT * FROM rollouts ORDER BY created_at, id').all() as RawRollout[];
      return rows
        .map(toRollout)
        .filter(
          (r) =>
            (filter.active === undefined ||
              filter.active === (r.state === 'in-progress' || r.state === 'rolling-back')) &&
            (filter.deviceClass === undefined || r.deviceClass === filter.deviceClass),
        );
    },
    devicesOf: (id) =>
      (
        db.prepare('SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY wave, device_id').all(id) as RawDevice[]
      ).map(toDevice),
    save: (rollout, devices) =>
      db.transaction(() => {
        updateRollout(rollout);
        for (const d of devices) upsertDevice(d);
      })(),
    findByDeployment,
    deploymentTarget(id) {
      const d = findByDeployment(id);
      if (!d) return null;
      if (d.rollbackId === id)
        return d.previous
          ? { rolloutId: d.rolloutId, deviceId: d.deviceId, sha256: d.previous.sha256, purpose: 'rollback' }
          : null;
      const r = getRollout(d.rolloutId);
      return r ? { rolloutId: r.id, deviceId: d.deviceId, sha256: r.artifactSha, purpose: 'rollout' } : null;
    },
    lastInstalled(deviceId) {
      const r = db
        .prepare(`SELECT d.*, r.variant_id AS r_variant, r.artifact_sha AS r_sha FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        WHERE d.device_id = ? AND d.state IN ('succeeded', 'rolled-back') ORDER BY d.finished_at DESC LIMIT 1`)
        .get(deviceId) as (RawDevice & { r_variant: string; r_sha: string }) | undefined;
      if (!r) return null;
      if (r.state === 'succeeded') return { variantId: r.r_variant, sha256: r.r_sha, rolloutId: r.rollout_id };
      return r.previous === null ? null : (JSON.parse(r.previous) as PreviousVariant);
    },
    recordReport(deploymentId, state, deviceId, receivedAt, report) {
      const result = db
        .prepare(
          'INSERT OR IGNORE INTO deploy_reports (deployment_id, state, device_id, received_at, report) VALUES (?, ?, ?, ?, ?)',
        )
        .run(deploymentId, state, deviceId, receivedAt, JSON.stringify(report));
      return result.changes === 1;
    },
  };
}
