/**
 * Opening the Postgres store (`--store postgres://…`, EDGEFLEET_STORE): a pool, the migrations
 * of ./migrations.ts, and the same repositories as SQLite's. Several server replicas may open
 * one database at once; the migration runner holds a session advisory lock, so exactly one of
 * them migrates and the others wait, then find every migration recorded.
 */
import { asError, EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { redactUrl } from '../../log/logger.js';
import type { FleetStore, Repositories } from '../index.js';
import type { Migration } from '../sqlite/migrations.js';
import { createPgArtifactRepository } from './artifacts.js';
import { createPgAuthRepository } from './auth.js';
import { createPgClassRepository } from './classes.js';
import { createPgControlRepository } from './control.js';
import { createPgDb, type PgDb } from './db.js';
import { createPgDesiredStateRepository } from './desired.js';
import { createPgDeviceRepository } from './devices.js';
import { PG_MIGRATIONS } from './migrations.js';
import { createPgModelRepository } from './models.js';
import { createPgPlanRepository } from './plans.js';
import { createPgRolloutRepository } from './rollouts.js';
import { createPgTelemetryRepository } from './telemetry.js';
import { createPgVariantRepository } from './variants.js';

/** Key of the advisory lock that serializes migrations across replicas ("EFMIGRATE" as a number). */
const MIGRATION_LOCK = 0x4546_4d49_4752;

export interface OpenPostgresOptions {
  /** `postgres://user:password@host:port/database` (any form `pg` accepts). */
  readonly url: string;
  /** Pool size per process; default 10. */
  readonly poolSize?: number;
  /** Migrations to apply; default {@link PG_MIGRATIONS}. Tests pass broken ones. */
  readonly migrations?: readonly Migration[];
  /** Where idle-connection errors go (a restarted server); default: ignored, the pool reconnects. */
  readonly onIdleError?: (err: Error) => void;
}

/** Applies every migration not yet recorded, lowest first, each in its own transaction, under the migration lock. */
export async function migratePostgres(db: PgDb, migrations: readonly Migration[], now = Date.now()): Promise<number> {
  const client = await db.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_version
      (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const applied = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_version')).rows.map((r) => r.version),
    );
    const from = Math.max(0, ...applied);
    const known = Math.max(0, ...migrations.map((m) => m.version));
    if (from > known)
      throw new EdgefleetError(
        'EF_ERR_STORE_MIGRATION',
        `store schema version ${from} is newer than this edgefleet knows (${known}); upgrade edgefleet or use ` +
          `another --store`,
        { from, known },
      );
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          now,
        ]);
        await client.query('COMMIT');
      } catch (err: unknown) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new EdgefleetError(
          'EF_ERR_STORE_MIGRATION',
          `store migration ${migration.version} (${migration.name}) failed: ${asError(err).message}; ` +
            'the store keeps every migration before it',
          { version: migration.version },
          { cause: err },
        );
      }
    }
    return await currentVersion(db);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}

async function currentVersion(db: PgDb): Promise<number> {
  return (await db.one<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_version'))?.version ?? 0;
}

export function postgresRepositories(db: PgDb): Repositories {
  return Object.freeze({
    devices: createPgDeviceRepository(db),
    auth: createPgAuthRepository(db),
    classes: createPgClassRepository(db),
    models: createPgModelRepository(db),
    variants: createPgVariantRepository(db),
    plans: createPgPlanRepository(db),
    artifacts: createPgArtifactRepository(db),
    rollouts: createPgRolloutRepository(db),
    desired: createPgDesiredStateRepository(db),
    telemetry: createPgTelemetryRepository(db),
    control: createPgControlRepository(db),
  });
}

/** A Postgres store with its pool, for the parts of the server that need the database itself (ownership, jobs). */
export interface PostgresFleetStore extends FleetStore {
  readonly kind: 'postgres';
  readonly db: PgDb;
}

/** Connects, migrates and returns the repositories; EF_ERR_STORE_OPEN when the server cannot be reached. */
export async function openPostgresStore(options: OpenPostgresOptions): Promise<PostgresFleetStore> {
  const location = redactUrl(options.url);
  const db = createPgDb({
    connectionString: options.url,
    ...stripUndefined({ max: options.poolSize }),
    ...stripUndefined({ onIdleError: options.onIdleError }),
  });
  try {
    await db.run('SELECT 1');
  } catch (err: unknown) {
    await db.close();
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `cannot connect to ${location}: ${asError(err).message}; check that Postgres runs there and the URL's user, ` +
        'password and database (--store / EDGEFLEET_STORE)',
      { store: location },
      { cause: err },
    );
  }
  try {
    await migratePostgres(db, options.migrations ?? PG_MIGRATIONS);
  } catch (err: unknown) {
    await db.close();
    throw err;
  }
  return Object.freeze({
    kind: 'postgres' as const,
    db,
    repos: postgresRepositories(db),
    location,
    schemaVersion: () => currentVersion(db),
    close: () => db.close(),
  });
}
