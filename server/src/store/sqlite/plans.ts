/** Stored plans on SQLite (migration 2). */
import { decodeJson } from '../decode.js';
import { storedPlanBodySchema, type PlanRepository, type PlanRow } from '../plans.js';
import type { Db } from './open.js';

export interface RawPlan {
  id: number;
  class: string;
  class_version: number;
  model_sha: string;
  inputs_key: string;
  plan: string;
  created_at: number;
  invalidated_at: number | null;
}

export const toPlan = (r: RawPlan): PlanRow => ({
  id: r.id,
  deviceClass: r.class,
  classVersion: r.class_version,
  modelSha: r.model_sha,
  inputsKey: r.inputs_key,
  plan: decodeJson(storedPlanBodySchema, r.plan, { table: 'plans', column: 'plan', key: r.id }),
  createdAt: r.created_at,
  invalidatedAt: r.invalidated_at,
});

export function createSqlitePlanRepository(db: Db): PlanRepository {
  const s = {
    find: db.prepare('SELECT * FROM plans WHERE inputs_key = ? AND invalidated_at IS NULL ORDER BY id DESC LIMIT 1'),
    get: db.prepare('SELECT * FROM plans WHERE id = ?'),
    list: db.prepare(`SELECT * FROM plans
      WHERE (@class IS NULL OR class = @class) AND (@model IS NULL OR model_sha = @model)
      AND (@all = 1 OR invalidated_at IS NULL) ORDER BY id`),
    insert: db.prepare(`INSERT INTO plans (class, class_version, model_sha, inputs_key, plan, created_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
  };
  return Object.freeze({
    find: async (key) => {
      const r = s.find.get(key) as RawPlan | undefined;
      return r ? toPlan(r) : null;
    },
    get: async (id) => {
      const r = s.get.get(id) as RawPlan | undefined;
      return r ? toPlan(r) : null;
    },
    list: async (f = {}) =>
      (
        s.list.all({
          class: f.deviceClass ?? null,
          model: f.modelSha ?? null,
          all: f.includeInvalidated === true ? 1 : 0,
        }) as RawPlan[]
      ).map(toPlan),
    insert: async (p) =>
      Number(
        s.insert.run(p.deviceClass, p.classVersion, p.modelSha, p.inputsKey, JSON.stringify(p.plan), p.createdAt)
          .lastInsertRowid,
      ),
  } satisfies PlanRepository);
}
