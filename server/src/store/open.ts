/**
 * Which store a server opens: SQLite in its data directory (the default), or Postgres when
 * `store` (`--store`, EDGEFLEET_STORE) names one. Replicas share a Postgres store; SQLite is
 * one process's.
 */
import type { FleetStore } from './index.js';
import { openPostgresStore, type PostgresFleetStore } from './postgres/open.js';
import { openSqliteStore } from './sqlite/open.js';
import { stripUndefined } from '@edgefleet/shared';

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

export interface StoreChoice {
  /** Postgres URL, or null for SQLite in `dataDir`. */
  readonly store: string | null;
  readonly dataDir: string;
  /** SQLite only: create the file when missing. Default true. */
  readonly create?: boolean;
  readonly onIdleError?: (err: Error) => void;
}

export async function openFleetStore(choice: StoreChoice): Promise<FleetStore | PostgresFleetStore> {
  if (choice.store !== null)
    return openPostgresStore({
      url: choice.store,
      ...stripUndefined({ onIdleError: choice.onIdleError }),
    });
  return openSqliteStore({
    dataDir: choice.dataDir,
    ...stripUndefined({ create: choice.create }),
  });
}

/** The Postgres store behind `store`, or null when it is SQLite. */
export function postgresOf(store: FleetStore): PostgresFleetStore | null {
  return 'kind' in store && store.kind === 'postgres' ? (store as PostgresFleetStore) : null;
}
