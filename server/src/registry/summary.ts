import type { DeviceRecord } from '../store/devices.js';

/** Online and total devices of one class. */
export interface ClassPresence {
  readonly deviceClass: string;
  readonly online: number;
  readonly total: number;
}

/**
 * Online/total per class, sorted by class name; `classes` lists classes to show even when
 * no device of theirs is registered yet (with 0/0).
 */
export function summarizePresence(devices: readonly DeviceRecord[], classes: readonly string[] = []): ClassPresence[] {
  const by = new Map<string, { online: number; total: number }>(classes.map((c) => [c, { online: 0, total: 0 }]));
  for (const device of devices) {
    const entry = by.get(device.deviceClass) ?? { online: 0, total: 0 };
    entry.total += 1;
    if (device.state === 'online') entry.online += 1;
    by.set(device.deviceClass, entry);
  }
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([deviceClass, v]) => ({ deviceClass, ...v }));
}
