/** The model store's rows on SQLite (migration 2). */
import { decodeJson } from '../decode.js';
import { modelShapesSchema, type ModelRepository, type ModelRow } from '../models.js';
import type { Db } from './open.js';

export interface RawModel {
  sha256: string;
  name: string;
  path: string;
  bytes: number;
  eval_spec: string;
  shapes: string;
  created_at: number;
}

export const toModel = (r: RawModel): ModelRow => ({
  sha256: r.sha256,
  name: r.name,
  path: r.path,
  bytes: r.bytes,
  evalSpec: r.eval_spec,
  shapes: decodeJson(modelShapesSchema, r.shapes, { table: 'models', column: 'shapes', key: r.sha256 }),
  createdAt: r.created_at,
});

export function createSqliteModelRepository(db: Db): ModelRepository {
  const s = {
    get: db.prepare('SELECT * FROM models WHERE sha256 = ?'),
    named: db.prepare('SELECT * FROM models WHERE name = ? ORDER BY created_at DESC, sha256'),
    list: db.prepare('SELECT * FROM models ORDER BY name, created_at'),
    insert: db.prepare(`INSERT OR IGNORE INTO models (sha256, name, path, bytes, eval_spec, shapes, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`),
  };
  return Object.freeze({
    get: async (sha) => {
      const r = s.get.get(sha) as RawModel | undefined;
      return r ? toModel(r) : null;
    },
    named: async (name) => (s.named.all(name) as RawModel[]).map(toModel),
    list: async () => (s.list.all() as RawModel[]).map(toModel),
    insert: async (row) =>
      s.insert.run(row.sha256, row.name, row.path, row.bytes, row.evalSpec, JSON.stringify(row.shapes), row.createdAt)
        .changes === 1,
  } satisfies ModelRepository);
}
