/**
 * The class desired state's tables (migration 11): why each rollout exists, and which variant
 * each class should run. Read by the catch-up reconciler (deploy/class-desired.ts), written by
 * the rollout service when a rollout starts and when a class-wide one completes.
 */
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** Why a rollout exists. */
export type RolloutOrigin =
  | { readonly kind: 'class' }
  /** Chosen devices of the class (a cohort of the control loop, or `deviceIds` of an operator). */
  | { readonly kind: 'devices' }
  /** Late or returning members brought to the class's desired state. */
  | { readonly kind: 'catch-up'; readonly sourceRolloutId: string; readonly reason: string };

export interface ClassDesiredState {
  readonly deviceClass: string;
  /** The completed class-wide rollout that set it. */
  readonly rolloutId: string;
  readonly variantId: string;
  readonly artifactSha: string;
  readonly setAt: number;
}

/** A device's latest deployment of one artifact, for the reconciler's retry rules. */
export interface LastDeployment {
  readonly rolloutId: string;
  readonly origin: RolloutOrigin['kind'];
  readonly state: string;
  readonly at: number;
}

export interface DesiredStateTables {
  setOrigin(rolloutId: string, origin: RolloutOrigin): void;
  /** The origin of a rollout; `class` for rollouts from before origins were kept. */
  origin(rolloutId: string): RolloutOrigin;
  setDesired(row: ClassDesiredState): void;
  desired(deviceClass: string): ClassDesiredState | null;
  listDesired(): ClassDesiredState[];
  /** The device's most recent row in a rollout of `artifactSha`, or null. */
  lastDeployment(deviceId: string, artifactSha: string): LastDeployment | null;
  /** The device's most recent rollout row of any artifact: its rollout's creation time and origin. */
  latestRollout(
    deviceId: string,
  ): { readonly rolloutId: string; readonly createdAt: number; readonly origin: RolloutOrigin['kind'] } | null;
}

interface OriginRow {
  kind: RolloutOrigin['kind'];
  source_rollout_id: string | null;
  reason: string | null;
}

export function createDesiredStateTables(db: Db): DesiredStateTables {
  const prepared = new Map<string, Database.Statement<unknown[]>>();
  const q = (sql: string) => {
    let stmt = prepared.get(sql);
    if (!stmt) {
      stmt = db.prepare<unknown[]>(sql);
      prepared.set(sql, stmt);
    }
    return stmt;
  };
  const toDesired = (r: {
    class: string;
    rollout_id: string;
    variant_id: string;
    artifact_sha: string;
    set_at: number;
  }) => ({
    deviceClass: r.class,
    rolloutId: r.rollout_id,
    variantId: r.variant_id,
    artifactSha: r.artifact_sha,
    setAt: r.set_at,
  });
  const tables: DesiredStateTables = {
    setOrigin(rolloutId, origin) {
      q('INSERT OR REPLACE INTO rollout_origins (rollout_id, kind, source_rollout_id, reason) VALUES (?, ?, ?, ?)').run(
        rolloutId,
        origin.kind,
        origin.kind === 'catch-up' ? origin.sourceRolloutId : null,
        origin.kind === 'catch-up' ? origin.reason : null,
      );
    },
    origin(rolloutId) {
      const row = q('SELECT kind, source_rollout_id, reason FROM rollout_origins WHERE rollout_id = ?').get(
        rolloutId,
      ) as OriginRow | undefined;
      if (!row || row.kind === 'class') return { kind: 'class' };
      if (row.kind === 'devices') return { kind: 'devices' };
      return { kind: 'catch-up', sourceRolloutId: row.source_rollout_id ?? '', reason: row.reason ?? '' };
    },
    setDesired(row) {
      q(
        'INSERT OR REPLACE INTO class_desired_state (class, rollout_id, variant_id, artifact_sha, set_at) VALUES (?, ?, ?, ?, ?)',
      ).run(row.deviceClass, row.rolloutId, row.variantId, row.artifactSha, row.setAt);
    },
    desired(deviceClass) {
      const row = q('SELECT * FROM class_desired_state WHERE class = ?').get(deviceClass) as
        | Parameters<typeof toDesired>[0]
        | undefined;
      return row ? toDesired(row) : null;
    },
    listDesired() {
      return (
        q('SELECT * FROM class_desired_state ORDER BY class').all() as Array<Parameters<typeof toDesired>[0]>
      ).map(toDesired);
    },
    lastDeployment(deviceId, artifactSha) {
      const row = q(
        `SELECT d.rollout_id AS rolloutId, COALESCE(o.kind, 'class') AS origin, d.state AS state, d.updated_at AS at
           FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
           LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
          WHERE d.device_id = ? AND r.artifact_sha = ?
          ORDER BY r.created_at DESC, d.updated_at DESC LIMIT 1`,
      ).get(deviceId, artifactSha) as LastDeployment | undefined;
      return row ?? null;
    },
    latestRollout(deviceId) {
      const row = q(
        `SELECT d.rollout_id AS rolloutId, r.created_at AS createdAt, COALESCE(o.kind, 'class') AS origin
           FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
           LEFT JOIN rollout_origins o ON o.rollout_id = d.rollout_id
          WHERE d.device_id = ? ORDER BY r.created_at DESC LIMIT 1`,
      ).get(deviceId) as { rolloutId: string; createdAt: number; origin: RolloutOrigin['kind'] } | undefined;
      return row ?? null;
    },
  };
  return Object.freeze(tables);
}
