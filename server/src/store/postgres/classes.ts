/** Device classes on Postgres (migrations 1–2); rows map as on SQLite. */
import type { ClassRepository } from '../classes.js';
import { type RawClass, toClass } from '../sqlite/classes.js';
import type { PgDb } from './db.js';

const INVALIDATE_PLANS = 'UPDATE plans SET invalidated_at = $1 WHERE class = $2 AND invalidated_at IS NULL';

export function createPgClassRepository(db: PgDb): ClassRepository {
  return Object.freeze({
    get: async (name) => {
      const r = await db.one<RawClass>('SELECT * FROM device_classes WHERE name = $1', [name]);
      return r ? toClass(r) : null;
    },
    list: async () => (await db.rows<RawClass>('SELECT * FROM device_classes ORDER BY name')).map(toClass),
    create: (row) =>
      db.tx(async (sql) => {
        // One upsert: a row a hello created (no profile) is configured, a configured one is left alone, and
        // two replicas creating one name cannot both succeed.
        const created = await sql.one(
          `INSERT INTO device_classes (name, description, profile, budgets, version, created_at, updated_at)
          VALUES ($1, $2, $3, $4, 1, $5, $5)
          ON CONFLICT (name) DO UPDATE SET description = excluded.description, profile = excluded.profile,
            budgets = excluded.budgets, version = device_classes.version + 1, updated_at = excluded.updated_at
          WHERE device_classes.profile IS NULL
          RETURNING 1`,
          [row.name, row.description, JSON.stringify(row.profile), JSON.stringify(row.budgets), row.createdAt],
        );
        if (!created) return false;
        await sql.run(INVALIDATE_PLANS, [row.createdAt, row.name]);
        return true;
      }),
    update: (name, doc, now) =>
      db.tx(async (sql) => {
        const r = await sql.one<{ version: number }>(
          `UPDATE device_classes SET description = $1, profile = $2, budgets = $3, version = version + 1,
          updated_at = $4 WHERE name = $5 RETURNING version`,
          [doc.description, JSON.stringify(doc.profile), JSON.stringify(doc.budgets), now, name],
        );
        if (!r) return null;
        await sql.run(INVALIDATE_PLANS, [now, name]);
        return r.version;
      }),
    delete: (name) =>
      db.tx(async (sql) => {
        if (!(await sql.one('SELECT 1 FROM device_classes WHERE name = $1 FOR UPDATE', [name])))
          return 'absent' as const;
        if (await sql.one('SELECT 1 FROM devices WHERE class = $1 LIMIT 1', [name])) return 'in-use' as const;
        await sql.run('DELETE FROM plans WHERE class = $1', [name]);
        await sql.run('DELETE FROM device_classes WHERE name = $1', [name]);
        return 'deleted' as const;
      }),
  } satisfies ClassRepository);
}
