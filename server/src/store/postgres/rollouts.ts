/** Rollouts on Postgres (migration 10); rows map as on SQLite. */
import type { PreviousVariant, RolloutDevice, RolloutRecord } from '../../deploy/rollout-model.js';
import { fencedError, type DeploymentTarget, type DeviceDeploymentRow, type RolloutRepository } from '../rollouts.js';
import {
  deviceParams,
  type RawDevice,
  type RawRollout,
  rolloutParams,
  toDevice,
  toRollout,
} from '../sqlite/rollouts.js';
import type { PgDb, Sql } from './db.js';

const UPSERT_DEVICE = `INSERT INTO rollout_devices (rollout_id, device_id, wave, state, deployment_id, previous,
    rollback_id, agent_state, failure, notified_at, rollback_at, finished_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (rollout_id, device_id) DO UPDATE SET state = excluded.state, previous = excluded.previous,
    rollback_id = excluded.rollback_id, agent_state = excluded.agent_state, failure = excluded.failure,
    notified_at = excluded.notified_at, rollback_at = excluded.rollback_at, finished_at = excluded.finished_at,
    updated_at = excluded.updated_at`;

async function upsertDevices(sql: Sql, devices: readonly RolloutDevice[]): Promise<void> {
  for (const d of devices) {
    const p = deviceParams(d);
    await sql.run(UPSERT_DEVICE, [
      p.rollout_id,
      p.device_id,
      p.wave,
      p.state,
      p.deployment_id,
      p.previous,
      p.rollback_id,
      p.agent_state,
      p.failure,
      p.notified_at,
      p.rollback_at,
      p.finished_at,
      p.updated_at,
    ]);
  }
}

export function createPgRolloutRepository(db: PgDb): RolloutRepository {
  async function getRollout(id: string): Promise<RolloutRecord | null> {
    const r = await db.one<RawRollout>('SELECT * FROM rollouts WHERE id = $1', [id]);
    return r ? toRollout(r) : null;
  }
  async function findByDeployment(id: string): Promise<RolloutDevice | null> {
    const r = await db.one<RawDevice>('SELECT * FROM rollout_devices WHERE deployment_id = $1 OR rollback_id = $1', [
      id,
    ]);
    return r ? toDevice(r) : null;
  }
  async function deploymentTarget(id: string): Promise<DeploymentTarget | null> {
    const d = await findByDeployment(id);
    if (!d) return null;
    if (d.rollbackId === id)
      return d.previous
        ? { rolloutId: d.rolloutId, deviceId: d.deviceId, sha256: d.previous.sha256, purpose: 'rollback' }
        : null;
    const r = await getRollout(d.rolloutId);
    return r ? { rolloutId: r.id, deviceId: d.deviceId, sha256: r.artifactSha, purpose: 'rollout' } : null;
  }
  async function historyOf(deviceId: string): Promise<DeviceDeploymentRow[]> {
    const rows = await db.rows<RawDevice>(
      `SELECT d.* FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      WHERE d.device_id = $1 ORDER BY r.created_at DESC, r.id DESC`,
      [deviceId],
    );
    const history: DeviceDeploymentRow[] = [];
    for (const raw of rows) {
      const rollout = await getRollout(raw.rollout_id);
      if (rollout) history.push({ rollout, device: toDevice(raw) });
    }
    return history;
  }
  async function lastInstalled(deviceId: string): Promise<PreviousVariant | null> {
    const r = await db.one<RawDevice & { r_variant: string; r_sha: string }>(
      `SELECT d.*, r.variant_id AS r_variant, r.artifact_sha AS r_sha
      FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      WHERE d.device_id = $1 AND d.state IN ('succeeded', 'rolled-back') ORDER BY d.finished_at DESC LIMIT 1`,
      [deviceId],
    );
    if (!r) return null;
    if (r.state === 'succeeded') return { variantId: r.r_variant, sha256: r.r_sha, rolloutId: r.rollout_id };
    return toDevice(r).previous;
  }
  return Object.freeze({
    insert: (rollout, devices, origin = { kind: 'class' }) =>
      db.tx(async (sql) => {
        const p = rolloutParams(rollout);
        await sql.run(
          `INSERT INTO rollouts (id, class, variant_id, artifact_sha, golden, budgets, policy, state,
            current_wave, wave_count, reason, created_at, updated_at, finished_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
          [
            p.id,
            p.class,
            p.variant_id,
            p.artifact_sha,
            p.golden,
            p.budgets,
            p.policy,
            p.state,
            p.current_wave,
            p.wave_count,
            p.reason,
            p.created_at,
            p.updated_at,
            p.finished_at,
          ],
        );
        await upsertDevices(sql, devices);
        const catchUp = origin.kind === 'catch-up' ? origin : null;
        await sql.run(
          `INSERT INTO rollout_origins (rollout_id, kind, source_rollout_id, reason) VALUES ($1, $2, $3, $4)
          ON CONFLICT (rollout_id) DO UPDATE SET kind = excluded.kind, source_rollout_id = excluded.source_rollout_id,
            reason = excluded.reason`,
          [rollout.id, origin.kind, catchUp?.sourceRolloutId ?? null, catchUp?.reason ?? null],
        );
      }),
    get: getRollout,
    list: async (filter = {}) =>
      (
        await db.rows<RawRollout>(
          `SELECT * FROM rollouts WHERE ($1::text IS NULL OR class = $1)
          AND ($2::boolean IS NULL OR (state IN ('in-progress', 'rolling-back')) = $2) ORDER BY created_at, id`,
          [filter.deviceClass ?? null, filter.active ?? null],
        )
      ).map(toRollout),
    devicesOf: async (id) =>
      (
        await db.rows<RawDevice>('SELECT * FROM rollout_devices WHERE rollout_id = $1 ORDER BY wave, device_id', [id])
      ).map(toDevice),
    save: (rollout, devices, fence) =>
      db.tx(async (sql) => {
        if (fence) {
          // FOR SHARE: a replica taking the key over (UPDATE of this row) waits for this save to commit.
          const row = (
            await sql.rows<{ token: number }>('SELECT token FROM ownership_fences WHERE key = $1 FOR SHARE', [
              fence.key,
            ])
          )[0];
          if (row && row.token > fence.token) throw fencedError(fence, row.token);
        }
        await sql.run(
          `UPDATE rollouts SET state = $1, current_wave = $2, reason = $3, updated_at = $4, finished_at = $5
          WHERE id = $6`,
          [rollout.state, rollout.currentWave, rollout.reason, rollout.updatedAt, rollout.finishedAt, rollout.id],
        );
        await upsertDevices(sql, devices);
      }),
    historyOf,
    findByDeployment,
    deploymentTarget,
    lastInstalled,
    recordReport: async (deploymentId, state, deviceId, receivedAt, report) =>
      (await db.run(
        `INSERT INTO deploy_reports (deployment_id, state, device_id, received_at, report)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [deploymentId, state, deviceId, receivedAt, JSON.stringify(report)],
      )) === 1,
  } satisfies RolloutRepository);
}
