/** Reading a data directory after its server stopped: what the test checks was stored. */
import Database from 'better-sqlite3';
import { openSqliteStore, type DeviceRecord } from '@edgefleet/server';

/**
 * SQLite's `integrity_check` of a store file its server has closed ('ok' when sound), opened
 * without write access so the check cannot change what it checks.
 */
export function sqliteIntegrity(file: string): unknown {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true });
  } finally {
    db.close();
  }
}

export async function storedDevices(dataDir: string): Promise<DeviceRecord[]> {
  const store = openSqliteStore({ dataDir, create: false });
  try {
    return await store.repos.devices.list();
  } finally {
    await store.close();
  }
}
