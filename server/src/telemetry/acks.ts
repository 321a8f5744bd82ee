/**
 * Acknowledgements of committed telemetry [EF-PROTO 8.2]. Pure: the items of one committed
 * batch in, one `telemetry-ack` per device out (more only when a device has more than
 * `MAX_TELEMETRY_ACK_ITEMS` windows or events in the batch). Duplicates are acknowledged too:
 * a resend means the agent missed the first acknowledgement, and this one ends its wait.
 */
import {
  breachIdentity,
  MAX_TELEMETRY_ACK_ITEMS,
  PROTOCOL_VERSION,
  type BreachIdentity,
  type TelemetryAck,
} from '@edgefleet/shared';
import type { BatchItem } from '../store/telemetry.js';

interface DeviceItems {
  readonly windows: Set<number>;
  readonly breaches: Map<string, BreachIdentity>;
}

function groupByDevice(items: readonly BatchItem[]): Map<string, DeviceItems> {
  const byDevice = new Map<string, DeviceItems>();
  for (const item of items) {
    const { deviceId } = item.message;
    let entry = byDevice.get(deviceId);
    if (!entry) {
      entry = { windows: new Set(), breaches: new Map() };
      byDevice.set(deviceId, entry);
    }
    if (item.kind === 'window') {
      entry.windows.add(item.message.seq);
    } else {
      const id = breachIdentity(item.message);
      entry.breaches.set(`${id.budget}:${id.seq}`, id);
    }
  }
  return byDevice;
}

/** The acknowledgements for one committed batch, devices in first-seen order, seqs ascending. */
export function buildTelemetryAcks(items: readonly BatchItem[], sentAt: number): TelemetryAck[] {
  const acks: TelemetryAck[] = [];
  for (const [deviceId, entry] of groupByDevice(items)) {
    const windows = [...entry.windows].sort((a, b) => a - b);
    const breaches = [...entry.breaches.values()].sort((a, b) => a.seq - b.seq || a.budget.localeCompare(b.budget));
    for (let i = 0; i < Math.max(windows.length, breaches.length); i += MAX_TELEMETRY_ACK_ITEMS) {
      acks.push({
        type: 'telemetry-ack',
        v: PROTOCOL_VERSION,
        deviceId,
        windows: windows.slice(i, i + MAX_TELEMETRY_ACK_ITEMS),
        breaches: breaches.slice(i, i + MAX_TELEMETRY_ACK_ITEMS),
        sentAt,
      });
    }
  }
  return acks;
}
