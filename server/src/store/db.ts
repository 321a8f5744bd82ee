import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { EdgefleetError } from '@edgefleet/shared';
import { MIGRATIONS, type Migration } from './migrations.js';
import { createDeviceRepository, type DeviceRepository } from './devices.js';
import { createTelemetryTables, type TelemetryTables } from './telemetry-tables.js';
import { createAuthRepository, type AuthRepository } from './auth.js';
import { createPlannerTables, type PlannerTables } from './planner-tables.js';
import { createRolloutTables, type RolloutTables } from './rollout-tables.js';
import { createDesiredStateTables, type DesiredStateTables } from './desired-tables.js';
import { createControlTables, type ControlTables } from './control-tables.js';

/** File name of the SQLite store inside the data directory. */
export const STORE_FILE = 'edgefleet.db';

/** The connection type, for repositories in this folder only. */
export type Db = Database.Database;

export interface OpenStoreOptions {
  /** Data directory; created if missing (unless read-only). */
  readonly dataDir: string;
  /** Open without writing: for `edgefleet devices` while a server may be running. */
  readonly readonly?: boolean;
  /** Migrations to apply; default {@link MIGRATIONS}. Tests pass broken ones. */
  readonly migrations?: readonly Migration[];
}

/** The SQLite store. The one module family that imports better-sqlite3. */
export interface Store {
  readonly path: string;
  readonly devices: DeviceRepository;
  /** Telemetry windows, gaps, per-class minute rollups and breach events. */
  readonly telemetry: TelemetryTables;
  /** Admin tokens, enrollment tokens, device credentials (hashes only). */
  readonly auth: AuthRepository;
  /** Classes, models, variants and plans (the planner's tables). */
  readonly planner: PlannerTables;
  /** Artifacts, rollouts, per-device deployments and deploy reports (the deployer's tables). */
  readonly rollouts: RolloutTables;
  /** Rollout origins and each class's desired state (the catch-up reconciler's tables). */
  readonly desired: DesiredStateTables;
  /** Control-loop decisions and per-class memory (the closed loop's tables). */
  readonly control: ControlTables;
  /** Highest applied migration. */
  schemaVersion(): number;
  /** Checkpoints the WAL into the main file and closes. Idempotent. */
  close(): void;
}

function currentVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/** Applies every migration above the stored version, each in its own transaction. */
export function migrate(db: Db, migrations: readonly Migration[], now: number = Date.now()): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
  );
  const from = currentVersion(db);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  // Areas own version ranges (deploy 10–19, auth 20–…), so a store can be at 20 without 10:
  // apply every listed migration not yet recorded, not only those above the highest.
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_version').all() as Array<{ version: number }>).map((r) => r.version),
  );
  if (from > known) {
    throw new EdgefleetError(
      'EF_ERR_STORE_MIGRATION',
      `store schema version ${from} is newer than this edgefleet knows (${known}); upgrade edgefleet or use another --data-dir`,
      { from, known },
    );
  }
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    try {
      db.transaction(() => {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          now,
        );
      })();
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_STORE_MIGRATION',
        `store migration ${migration.version} (${migration.name}) failed: ${(err as Error).message}; the store was left at version ${currentVersion(db)}`,
        { version: migration.version },
        { cause: err },
      );
    }
  }
  return currentVersion(db);
}

function openDatabase(path: string, readonly: boolean): Db {
  try {
    return new Database(path, readonly ? { readonly: true, fileMustExist: true } : {});
  } catch (err: unknown) {
    const hint =
      readonly && !existsSync(path)
        ? `no store yet at ${path}; start \`edgefleet server\` (or \`edgefleet demo\`) with this --data-dir first`
        : `cannot open ${path}: ${(err as Error).message}`;
    throw new EdgefleetError('EF_ERR_STORE_OPEN', hint, { path }, { cause: err });
  }
}

/** Opens (and migrates, unless read-only) the store in `dataDir`. */
export function openStore(options: OpenStoreOptions): Store {
  const readonly = options.readonly ?? false;
  const dir = resolve(options.dataDir);
  if (!readonly) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_STORE_OPEN',
        `cannot create data directory ${dir}: ${(err as Error).message}; choose another --data-dir`,
        { dir },
        { cause: err },
      );
    }
  }
  const path = join(dir, STORE_FILE);
  const db = openDatabase(path, readonly);
  try {
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      // WAL + NORMAL is durable across process crashes; only an OS crash can lose the last commits.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, options.migrations ?? MIGRATIONS);
    } else if (currentVersion(db) < 1) {
      throw new EdgefleetError(
        'EF_ERR_STORE_OPEN',
        `store at ${path} has no schema yet; start \`edgefleet server\` once with this --data-dir`,
        { path },
      );
    }
  } catch (err: unknown) {
    db.close();
    if (err instanceof EdgefleetError) throw err;
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `cannot prepare store ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  let closed = false;
  return Object.freeze({
    path,
    devices: createDeviceRepository(db),
    telemetry: createTelemetryTables(db),
    auth: createAuthRepository(db),
    planner: createPlannerTables(db),
    rollouts: createRolloutTables(db),
    desired: createDesiredStateTables(db),
    control: createControlTables(db),
    schemaVersion: () => currentVersion(db),
    close() {
      if (closed) return;
      closed = true;
      if (!readonly) db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  });
}
