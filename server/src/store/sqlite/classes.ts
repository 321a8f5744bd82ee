/** Device classes on SQLite (migration 2; migration 1 created the table for names from hellos). */
import { classProfileSchema, storedBudgetsSchema, type ClassRepository, type ClassRow } from '../classes.js';
import { decodeNullableJson } from '../decode.js';
import type { Db } from './open.js';

export interface RawClass {
  name: string;
  description: string;
  profile: string | null;
  budgets: string | null;
  version: number;
  created_at: number;
  updated_at: number | null;
}

export function toClass(r: RawClass): ClassRow {
  const at = (column: string) => ({ table: 'device_classes', column, key: r.name });
  return {
    name: r.name,
    description: r.description,
    profile: decodeNullableJson(classProfileSchema, r.profile, at('profile')),
    budgets: decodeNullableJson(storedBudgetsSchema, r.budgets, at('budgets')),
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at ?? r.created_at,
  };
}

export function createSqliteClassRepository(db: Db): ClassRepository {
  const s = {
    get: db.prepare('SELECT * FROM device_classes WHERE name = ?'),
    list: db.prepare('SELECT * FROM device_classes ORDER BY name'),
    profileOf: db.prepare('SELECT profile FROM device_classes WHERE name = ?'),
    configure: db.prepare(`UPDATE device_classes SET description = ?, profile = ?, budgets = ?, version = version + 1,
      updated_at = ? WHERE name = ?`),
    insert:
      db.prepare(`INSERT INTO device_classes (name, description, profile, budgets, version, created_at, updated_at)
      VALUES (?, ?, ?, ?, 1, ?, ?)`),
    update: db.prepare(`UPDATE device_classes SET description = ?, profile = ?, budgets = ?, version = version + 1,
      updated_at = ? WHERE name = ? RETURNING version`),
    invalidatePlans: db.prepare('UPDATE plans SET invalidated_at = ? WHERE class = ? AND invalidated_at IS NULL'),
    exists: db.prepare('SELECT 1 FROM device_classes WHERE name = ?'),
    hasDevices: db.prepare('SELECT 1 FROM devices WHERE class = ? LIMIT 1'),
    deletePlans: db.prepare('DELETE FROM plans WHERE class = ?'),
    delete: db.prepare('DELETE FROM device_classes WHERE name = ?'),
  };
  const create = db.transaction((row: Parameters<ClassRepository['create']>[0]): boolean => {
    const existing = s.profileOf.get(row.name) as { profile: string | null } | undefined;
    if (existing && existing.profile !== null) return false;
    const doc = [row.description, JSON.stringify(row.profile), JSON.stringify(row.budgets)] as const;
    if (existing) s.configure.run(...doc, row.createdAt, row.name);
    else s.insert.run(row.name, ...doc, row.createdAt, row.createdAt);
    s.invalidatePlans.run(row.createdAt, row.name);
    return true;
  });
  const update = db.transaction(
    (name: string, doc: Parameters<ClassRepository['update']>[1], now: number): number | null => {
      const r = s.update.get(doc.description, JSON.stringify(doc.profile), JSON.stringify(doc.budgets), now, name) as
        | { version: number }
        | undefined;
      if (!r) return null;
      s.invalidatePlans.run(now, name);
      return r.version;
    },
  );
  const remove = db.transaction((name: string) => {
    if (!s.exists.get(name)) return 'absent' as const;
    if (s.hasDevices.get(name)) return 'in-use' as const;
    s.deletePlans.run(name);
    s.delete.run(name);
    return 'deleted' as const;
  });
  return Object.freeze({
    get: async (name) => {
      const r = s.get.get(name) as RawClass | undefined;
      return r ? toClass(r) : null;
    },
    list: async () => (s.list.all() as RawClass[]).map(toClass),
    create: async (row) => create(row),
    update: async (name, doc, now) => update(name, doc, now),
    delete: async (name) => remove(name),
  } satisfies ClassRepository);
}
