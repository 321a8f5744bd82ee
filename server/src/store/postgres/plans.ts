/** Stored plans on Postgres (migration 2); rows map as on SQLite. */
import type { PlanRepository } from '../plans.js';
import { type RawPlan, toPlan } from '../sqlite/plans.js';
import type { PgDb } from './db.js';

export function createPgPlanRepository(db: PgDb): PlanRepository {
  return Object.freeze({
    find: async (key) => {
      const r = await db.one<RawPlan>(
        'SELECT * FROM plans WHERE inputs_key = $1 AND invalidated_at IS NULL ORDER BY id DESC LIMIT 1',
        [key],
      );
      return r ? toPlan(r) : null;
    },
    get: async (id) => {
      const r = await db.one<RawPlan>('SELECT * FROM plans WHERE id = $1', [id]);
      return r ? toPlan(r) : null;
    },
    list: async (f = {}) =>
      (
        await db.rows<RawPlan>(
          `SELECT * FROM plans WHERE ($1::text IS NULL OR class = $1) AND ($2::text IS NULL OR model_sha = $2)
          AND ($3 OR invalidated_at IS NULL) ORDER BY id`,
          [f.deviceClass ?? null, f.modelSha ?? null, f.includeInvalidated === true],
        )
      ).map(toPlan),
    insert: async (p) => {
      const row = await db.one<{ id: number }>(
        `INSERT INTO plans (class, class_version, model_sha, inputs_key, plan, created_at)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [p.deviceClass, p.classVersion, p.modelSha, p.inputsKey, JSON.stringify(p.plan), p.createdAt],
      );
      if (!row) throw new Error('INSERT … RETURNING id returned no row');
      return row.id;
    },
  } satisfies PlanRepository);
}
