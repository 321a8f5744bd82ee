/**
 * Rows of the planner's tables (migration 2): class documents, the model store, the variant
 * cache and stored plans. JSON columns come back as `unknown`; server/src/plan validates them
 * with the shared zod schemas, so this module stays free of planner types.
 */
import type { Db } from './open.js';

/** A device_classes row; `profile` is null for a class only known from a device's hello. */
export interface ClassRow {
  readonly name: string;
  readonly description: string;
  readonly profile: unknown;
  readonly budgets: unknown;
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ModelRow {
  readonly sha256: string;
  readonly name: string;
  /** Relative to the data directory. */
  readonly path: string;
  readonly bytes: number;
  readonly evalSpec: string;
  readonly shapes: unknown;
  readonly createdAt: number;
}

export interface VariantRow {
  readonly modelSha: string;
  readonly recipeKey: string;
  readonly recipeName: string;
  readonly recipe: unknown;
  readonly precision: string;
  readonly artifactSha: string | null;
  readonly artifactPath: string | null;
  readonly bytes: number | null;
  readonly report: unknown;
  readonly evaluation: unknown;
  readonly error: string | null;
  readonly createdAt: number;
}

export interface PlanRow {
  readonly id: number;
  readonly deviceClass: string;
  readonly classVersion: number;
  readonly modelSha: string;
  readonly inputsKey: string;
  readonly plan: unknown;
  readonly createdAt: number;
  readonly invalidatedAt: number | null;
}

/** The planner's tables. Every write is one statement or one transaction. */
export interface PlannerTables {
  getClass(name: string): ClassRow | null;
  listClasses(): ClassRow[];
  /** Inserts or fills in a class (a hello-created row without a profile is taken over). Returns false when a profiled class exists. */
  createClass(row: Omit<ClassRow, 'version' | 'updatedAt'>): boolean;
  /** Replaces the document, bumps the version and invalidates the class's plans, in one transaction. Returns the new version, or null when absent. */
  updateClass(name: string, description: string, profile: unknown, budgets: unknown, now: number): number | null;
  /** Deletes the class and its plans; 'in-use' when devices still belong to it. */
  deleteClass(name: string): 'deleted' | 'absent' | 'in-use';
  getModel(sha256: string): ModelRow | null;
  modelsNamed(name: string): ModelRow[];
  listModels(): ModelRow[];
  /** Returns false (and changes nothing) when the bytes are already stored. */
  insertModel(row: ModelRow): boolean;
  getVariant(modelSha: string, recipeKey: string): VariantRow | null;
  listVariants(modelSha: string): VariantRow[];
  putVariant(row: VariantRow): void;
  findPlan(inputsKey: string): PlanRow | null;
  getPlan(id: number): PlanRow | null;
  listPlans(filter?: { deviceClass?: string; modelSha?: string; includeInvalidated?: boolean }): PlanRow[];
  insertPlan(row: Omit<PlanRow, 'id' | 'invalidatedAt'>): number;
}

const json = (v: unknown): string => JSON.stringify(v);
const parse = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

interface RawClass {
  name: string;
  description: string;
  profile: string | null;
  budgets: string | null;
  version: number;
  created_at: number;
  updated_at: number | null;
}
interface RawModel {
  sha256: string;
  name: string;
  path: string;
  bytes: number;
  eval_spec: string;
  shapes: string;
  created_at: number;
}
interface RawVariant {
  model_sha: string;
  recipe_key: string;
  recipe_name: string;
  recipe: string;
  precision: string;
  artifact_sha: string | null;
  artifact_path: string | null;
  bytes: number | null;
  report: string | null;
  evaluation: string | null;
  error: string | null;
  created_at: number;
}
interface RawPlan {
  id: number;
  class: string;
  class_version: number;
  model_sha: string;
  inputs_key: string;
  plan: string;
  created_at: number;
  invalidated_at: number | null;
}

const toClass = (r: RawClass): ClassRow => ({
  name: r.name,
  description: r.description,
  profile: parse(r.profile),
  budgets: parse(r.budgets),
  version: r.version,
  createdAt: r.created_at,
  updatedAt: r.updated_at ?? r.created_at,
});
const toModel = (r: RawModel): ModelRow => ({
  sha256: r.sha256,
  name: r.name,
  path: r.path,
  bytes: r.bytes,
  evalSpec: r.eval_spec,
  shapes: parse(r.shapes),
  createdAt: r.created_at,
});
const toVariant = (r: RawVariant): VariantRow => ({
  modelSha: r.model_sha,
  recipeKey: r.recipe_key,
  recipeName: r.recipe_name,
  recipe: parse(r.recipe),
  precision: r.precision,
  artifactSha: r.artifact_sha,
  artifactPath: r.artifact_path,
  bytes: r.bytes,
  report: parse(r.report),
  evaluation: parse(r.evaluation),
  error: r.error,
  createdAt: r.created_at,
});
const toPlan = (r: RawPlan): PlanRow => ({
  id: r.id,
  deviceClass: r.class,
  classVersion: r.class_version,
  modelSha: r.model_sha,
  inputsKey: r.inputs_key,
  plan: parse(r.plan),
  createdAt: r.created_at,
  invalidatedAt: r.invalidated_at,
});

/** Creates the repository over an open, migrated connection. */
export function createPlannerTables(db: Db): PlannerTables {
  const invalidate = (name: string, now: number): void => {
    db.prepare('UPDATE plans SET invalidated_at = ? WHERE class = ? AND invalidated_at IS NULL').run(now, name);
  };
  return {
    getClass: (name) => {
      const r = db.prepare('SELECT * FROM device_classes WHERE name = ?').get(name) as RawClass | undefined;
      return r ? toClass(r) : null;
    },
    listClasses: () => (db.prepare('SELECT * FROM device_classes ORDER BY name').all() as RawClass[]).map(toClass),
    createClass: (row) =>
      db.transaction(() => {
        const existing = db.prepare('SELECT profile FROM device_classes WHERE name = ?').get(row.name) as
          | { profile: string | null }
          | undefined;
        if (existing && existing.profile !== null) return false;
        if (existing) {
          db.prepare(
            'UPDATE device_classes SET description = ?, profile = ?, budgets = ?, version = version + 1, updated_at = ? WHERE name = ?',
          ).run(row.description, json(row.profile), json(row.budgets), row.createdAt, row.name);
        } else {
          db.prepare(
            'INSERT INTO device_classes (name, description, profile, budgets, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)',
          ).run(row.name, row.description, json(row.profile), json(row.budgets), row.createdAt, row.createdAt);
        }
        invalidate(row.name, row.createdAt);
        return true;
      })(),
    updateClass: (name, description, profile, budgets, now) =>
      db.transaction(() => {
        const r = db
          .prepare(
            'UPDATE device_classes SET description = ?, profile = ?, budgets = ?, version = version + 1, updated_at = ? WHERE name = ? RETURNING version',
          )
          .get(description, json(profile), json(budgets), now, name) as { version: number } | undefined;
        if (!r) return null;
        invalidate(name, now);
        return r.version;
      })(),
    deleteClass: (name) =>
      db.transaction(() => {
        if (!db.prepare('SELECT 1 FROM device_classes WHERE name = ?').get(name)) return 'absent' as const;
        if (db.prepare('SELECT 1 FROM devices WHERE class = ? LIMIT 1').get(name)) return 'in-use' as const;
        db.prepare('DELETE FROM plans WHERE class = ?').run(name);
        db.prepare('DELETE FROM device_classes WHERE name = ?').run(name);
        return 'deleted' as const;
      })(),
    getModel: (sha) => {
      const r = db.prepare('SELECT * FROM models WHERE sha256 = ?').get(sha) as RawModel | undefined;
      return r ? toModel(r) : null;
    },
    modelsNamed: (name) =>
      (db.prepare('SELECT * FROM models WHERE name = ? ORDER BY created_at DESC, sha256').all(name) as RawModel[]).map(
        toModel,
      ),
    listModels: () => (db.prepare('SELECT * FROM models ORDER BY name, created_at').all() as RawModel[]).map(toModel),
    insertModel: (row) =>
      db
        .prepare(
          'INSERT OR IGNORE INTO models (sha256, name, path, bytes, eval_spec, shapes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(row.sha256, row.name, row.path, row.bytes, row.evalSpec, json(row.shapes), row.createdAt).changes === 1,
    getVariant: (modelSha, recipeKey) => {
      const r = db.prepare('SELECT * FROM variants WHERE model_sha = ? AND recipe_key = ?').get(modelSha, recipeKey) as
        | RawVariant
        | undefined;
      return r ? toVariant(r) : null;
    },
    listVariants: (modelSha) =>
      (
        db
          .prepare('SELECT * FROM variants WHERE model_sha = ? ORDER BY recipe_name, recipe_key')
          .all(modelSha) as RawVariant[]
      ).map(toVariant),
    putVariant: (v) => {
      db.prepare(`INSERT OR REPLACE INTO variants (model_sha, recipe_key, recipe_name, recipe, precision, artifact_sha, artifact_path, bytes, report, evaluation, error, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        v.modelSha,
        v.recipeKey,
        v.recipeName,
        json(v.recipe),
        v.precision,
        v.artifactSha,
        v.artifactPath,
        v.bytes,
        v.report === null ? null : json(v.report),
        v.evaluation === null ? null : json(v.evaluation),
        v.error,
        v.createdAt,
      );
    },
    findPlan: (key) => {
      const r = db
        .prepare('SELECT * FROM plans WHERE inputs_key = ? AND invalidated_at IS NULL ORDER BY id DESC LIMIT 1')
        .get(key) as RawPlan | undefined;
      return r ? toPlan(r) : null;
    },
    getPlan: (id) => {
      const r = db.prepare('SELECT * FROM plans WHERE id = ?').get(id) as RawPlan | undefined;
      return r ? toPlan(r) : null;
    },
    listPlans: (f = {}) => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (f.deviceClass !== undefined) {
        where.push('class = ?');
        args.push(f.deviceClass);
      }
      if (f.modelSha !== undefined) {
        where.push('model_sha = ?');
        args.push(f.modelSha);
      }
      if (f.includeInvalidated !== true) where.push('invalidated_at IS NULL');
      const sql = `SELECT * FROM plans ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
      return (db.prepare(sql).all(...args) as RawPlan[]).map(toPlan);
    },
    insertPlan: (p) =>
      Number(
        db
          .prepare(
            'INSERT INTO plans (class, class_version, model_sha, inputs_key, plan, created_at) VALUES (?, ?, ?, ?, ?, ?)',
          )
          .run(p.deviceClass, p.classVersion, p.modelSha, p.inputsKey, json(p.plan), p.createdAt).lastInsertRowid,
      ),
  };
}
