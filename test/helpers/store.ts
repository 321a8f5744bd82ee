/** Reading a data directory after its server stopped: what the test checks was stored. */
import { openSqliteStore, type DeviceRecord } from '@edgefleet/server';

export async function storedDevices(dataDir: string): Promise<DeviceRecord[]> {
  const store = openSqliteStore({ dataDir, create: false });
  try {
    return await store.repos.devices.list();
  } finally {
    await store.close();
  }
}
