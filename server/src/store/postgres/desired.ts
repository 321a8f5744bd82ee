/** Rollout origins and each class's desired state on Postgres (migration 11). */
import type { DesiredStateRepository, LastDeployment, LatestRollout } from '../desired.js';
import { type RawDesired, type RawOrigin, toDesired } from '../sqlite/desired.js';
import type { PgDb } from './db.js';

export function createPgDesiredStateRepository(db: PgDb): DesiredStateRepository {
  return Object.freeze({
    origin: async (rolloutId) => {
      const row = await db.one<RawOrigin>(
        'SELECT kind, source_rollout_id, reason FROM rollout_origins WHERE rollout_id = $1',
        [rolloutId],
      );
      if (!row || row.kind === 'class') return { kind: 'class' };
      if (row.kind === 'devices') return { kind: 'devices' };
      return { kind: 'catch-up', sourceRolloutId: row.source_rollout_id ?? '', reason: row.reason ?? '' };
    },
    setDesired: async (row) => {
      await db.run(
        `INSERT INTO class_desired_state (class, rollout_id, variant_id, artifact_sha, set_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (class) DO UPDATE SET rollout_id = excluded.rollout_id, variant_id = excluded.variant_id,
          artifact_sha = excluded.artifact_sha, set_at = excluded.set_at`,
        [row.deviceClass, row.rolloutId, row.variantId, row.artifactSha, row.setAt],
      );
    },
    desired: async (deviceClass) => {
      const row = await db.one<RawDesired>('SELECT * FROM class_desired_state WHERE class = $1', [deviceClass]);
      return row ? toDesired(row) : null;
    },
    listDesired: async () =>
      (await db.rows<RawDesired>('SELECT * FROM class_desired_state ORDER BY class')).map(toDesired),
    // Quoted aliases: Postgres folds unquoted names to lower case.
    lastDeployment: (deviceId, artifactSha) =>
      db.one<LastDeployment>(
        `SELECT d.rollout_id AS "rolloutId", COALESCE(o.kind, 'class') AS origin, d.state AS state, d.updated_at AS at
        FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
        WHERE d.device_id = $1 AND r.artifact_sha = $2
        ORDER BY r.created_at DESC, d.updated_at DESC LIMIT 1`,
        [deviceId, artifactSha],
      ),
    latestRollout: (deviceId) =>
      db.one<LatestRollout>(
        `SELECT d.rollout_id AS "rolloutId", r.created_at AS "createdAt", COALESCE(o.kind, 'class') AS origin
        FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
        WHERE d.device_id = $1 ORDER BY r.created_at DESC LIMIT 1`,
        [deviceId],
      ),
  } satisfies DesiredStateRepository);
}
