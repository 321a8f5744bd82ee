/** The model store's rows on Postgres (migration 2); rows map as on SQLite. */
import type { ModelRepository } from '../models.js';
import { type RawModel, toModel } from '../sqlite/models.js';
import type { PgDb } from './db.js';

export function createPgModelRepository(db: PgDb): ModelRepository {
  return Object.freeze({
    get: async (sha) => {
      const r = await db.one<RawModel>('SELECT * FROM models WHERE sha256 = $1', [sha]);
      return r ? toModel(r) : null;
    },
    named: async (name) =>
      (await db.rows<RawModel>('SELECT * FROM models WHERE name = $1 ORDER BY created_at DESC, sha256', [name])).map(
        toModel,
      ),
    list: async () => (await db.rows<RawModel>('SELECT * FROM models ORDER BY name, created_at')).map(toModel),
    insert: async (row) =>
      (await db.run(
        `INSERT INTO models (sha256, name, path, bytes, eval_spec, shapes, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [row.sha256, row.name, row.path, row.bytes, row.evalSpec, JSON.stringify(row.shapes), row.createdAt],
      )) === 1,
  } satisfies ModelRepository);
}
