/**
 * Opening the SQLite store: the one module family that imports better-sqlite3. better-sqlite3
 * is synchronous; the repositories wrap each call in an async function so callers are written
 * for any store (docs/design-notes.md, "Store").
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { asError, EdgefleetError } from '@edgefleet/shared';
import type { FleetStore, Repositories } from '../index.js';
import { createSqliteArtifactRepository } from './artifacts.js';
import { createSqliteAuthRepository } from './auth.js';
import { createSqliteClassRepository } from './classes.js';
import { createSqliteControlRepository } from './control.js';
import { createSqliteDesiredStateRepository } from './desired.js';
import { createSqliteDeviceRepository } from './devices.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { createSqliteModelRepository } from './models.js';
import { createSqlitePlanRepository } from './plans.js';
import { createSqliteRolloutRepository } from './rollouts.js';
import { createSqliteTelemetryRepository } from './telemetry.js';
import { createSqliteVariantRepository } from './variants.js';

/** File name of the SQLite store inside the data directory. */
export const STORE_FILE = 'edgefleet.db';

/** The connection type, for repositories in this folder only. */
export type Db = Database.Database;

export interface OpenStoreOptions {
  /** Data directory. */
  readonly dataDir: string;
  /** Create the data directory and the store when missing. Default true; false opens only an existing store. */
  readonly create?: boolean;
  /** Migrations to apply; default {@link MIGRATIONS}. Tests pass broken ones. */
  readonly migrations?: readonly Migration[];
}

function currentVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Applies every listed migration not yet recorded, each in its own transaction, lowest first.
 * Areas own version ranges (deploy 10–19, auth 20–…) and were built in parallel, so a store
 * can be at 20 without 10: the highest recorded version alone does not say what is missing.
 */
export function migrate(db: Db, migrations: readonly Migration[], now: number = Date.now()): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version
    (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const from = currentVersion(db);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_version').all() as Array<{ version: number }>).map((r) => r.version),
  );
  if (from > known) {
    throw new EdgefleetError(
      'EF_ERR_STORE_MIGRATION',
      `store schema version ${from} is newer than this edgefleet knows (${known}); ` +
        'upgrade edgefleet or use another --data-dir',
      { from, known },
    );
  }
  const record = db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        record.run(migration.version, migration.name, now);
      })();
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_STORE_MIGRATION',
        `store migration ${migration.version} (${migration.name}) failed: ${asError(err).message}; ` +
          `the store was left at version ${currentVersion(db)}`,
        { version: migration.version },
        { cause: err },
      );
    }
  }
  return currentVersion(db);
}

function openDatabase(dir: string, create: boolean): Db {
  const path = join(dir, STORE_FILE);
  if (!create && !existsSync(path))
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `no store yet at ${path}; start \`edgefleet server\` (or \`edgefleet demo\`) with this --data-dir first`,
      { path },
    );
  if (create) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_STORE_OPEN',
        `cannot create data directory ${dir}: ${asError(err).message}; choose another --data-dir`,
        { dir },
        { cause: err },
      );
    }
  }
  try {
    return new Database(path, create ? {} : { fileMustExist: true });
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `cannot open ${path}: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
}

function repositoriesOn(db: Db): Repositories {
  return Object.freeze({
    devices: createSqliteDeviceRepository(db),
    auth: createSqliteAuthRepository(db),
    classes: createSqliteClassRepository(db),
    models: createSqliteModelRepository(db),
    variants: createSqliteVariantRepository(db),
    plans: createSqlitePlanRepository(db),
    artifacts: createSqliteArtifactRepository(db),
    rollouts: createSqliteRolloutRepository(db),
    desired: createSqliteDesiredStateRepository(db),
    telemetry: createSqliteTelemetryRepository(db),
    control: createSqliteControlRepository(db),
  });
}

/** Opens (creating and migrating as needed) the SQLite store in `dataDir`. */
export function openSqliteStore(options: OpenStoreOptions): FleetStore {
  const dir = resolve(options.dataDir);
  const db = openDatabase(dir, options.create ?? true);
  const path = join(dir, STORE_FILE);
  let repos: Repositories;
  try {
    db.pragma('journal_mode = WAL');
    // WAL + NORMAL is durable across process crashes; only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, options.migrations ?? MIGRATIONS);
    repos = repositoriesOn(db);
  } catch (err: unknown) {
    db.close();
    if (err instanceof EdgefleetError) throw err;
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `cannot prepare store ${path}: ${asError(err).message}`,
      { path },
      {
        cause: err,
      },
    );
  }
  let closed = false;
  return Object.freeze({
    repos,
    location: path,
    schemaVersion: async () => currentVersion(db),
    close: async () => {
      if (closed) return;
      closed = true;
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  });
}
