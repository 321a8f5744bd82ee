/** Rollout origins and each class's desired state on SQLite (migration 11). */
import type { ClassDesiredState, DesiredStateRepository, LastDeployment, LatestRollout } from '../desired.js';
import type { Db } from './open.js';

export interface RawOrigin {
  kind: 'class' | 'devices' | 'catch-up';
  source_rollout_id: string | null;
  reason: string | null;
}
export interface RawDesired {
  class: string;
  rollout_id: string;
  variant_id: string;
  artifact_sha: string;
  set_at: number;
}

export const toDesired = (r: RawDesired): ClassDesiredState => ({
  deviceClass: r.class,
  rolloutId: r.rollout_id,
  variantId: r.variant_id,
  artifactSha: r.artifact_sha,
  setAt: r.set_at,
});

export function createSqliteDesiredStateRepository(db: Db): DesiredStateRepository {
  const s = {
    origin: db.prepare('SELECT kind, source_rollout_id, reason FROM rollout_origins WHERE rollout_id = ?'),
    setDesired:
      db.prepare(`INSERT OR REPLACE INTO class_desired_state (class, rollout_id, variant_id, artifact_sha, set_at)
      VALUES (?, ?, ?, ?, ?)`),
    desired: db.prepare('SELECT * FROM class_desired_state WHERE class = ?'),
    listDesired: db.prepare('SELECT * FROM class_desired_state ORDER BY class'),
    // Rollouts without an origin row predate migration 11: they were class-wide.
    lastDeployment: db.prepare(`SELECT d.rollout_id AS rolloutId, COALESCE(o.kind, 'class') AS origin,
        d.state AS state, d.updated_at AS at
      FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
      WHERE d.device_id = ? AND r.artifact_sha = ?
      ORDER BY r.created_at DESC, d.updated_at DESC LIMIT 1`),
    latestRollout: db.prepare(`SELECT d.rollout_id AS rolloutId, r.created_at AS createdAt,
        COALESCE(o.kind, 'class') AS origin
      FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
      LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
      WHERE d.device_id = ? ORDER BY r.created_at DESC LIMIT 1`),
  };
  return Object.freeze({
    origin: async (rolloutId) => {
      const row = s.origin.get(rolloutId) as RawOrigin | undefined;
      if (!row || row.kind === 'class') return { kind: 'class' };
      if (row.kind === 'devices') return { kind: 'devices' };
      return { kind: 'catch-up', sourceRolloutId: row.source_rollout_id ?? '', reason: row.reason ?? '' };
    },
    setDesired: async (row) => {
      s.setDesired.run(row.deviceClass, row.rolloutId, row.variantId, row.artifactSha, row.setAt);
    },
    desired: async (deviceClass) => {
      const row = s.desired.get(deviceClass) as RawDesired | undefined;
      return row ? toDesired(row) : null;
    },
    listDesired: async () => (s.listDesired.all() as RawDesired[]).map(toDesired),
    lastDeployment: async (deviceId, artifactSha) =>
      (s.lastDeployment.get(deviceId, artifactSha) as LastDeployment | undefined) ?? null,
    latestRollout: async (deviceId) => (s.latestRollout.get(deviceId) as LatestRollout | undefined) ?? null,
  } satisfies DesiredStateRepository);
}
