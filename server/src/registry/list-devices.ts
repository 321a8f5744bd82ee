import { openStore } from '../store/sqlite/open.js';
import type { DeviceRecord } from '../store/sqlite/devices.js';

/**
 * Reads the device registry from a data directory without writing, so it works while a
 * server runs on it. Throws `EF_ERR_STORE_OPEN` when there is no store yet.
 */
export function listDevices(dataDir: string): DeviceRecord[] {
  const store = openStore({ dataDir, readonly: true });
  try {
    return store.devices.list();
  } finally {
    store.close();
  }
}
