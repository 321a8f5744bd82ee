/** A valid telemetry window for tests that need one on the wire but do not care about its figures. */
import { PROTOCOL_VERSION, type TelemetryWindow } from '@edgefleet/shared';

export function telemetryWindow(deviceId: string, seq: number, extra: Partial<TelemetryWindow> = {}): TelemetryWindow {
  const end = 1_800_000_000_000 + (seq + 1) * 10_000;
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    seq,
    windowStart: end - 10_000,
    windowEnd: end,
    model: null,
    inferences: 0,
    errors: 0,
    latencyMs: null,
    dutyCycle: 0,
    power: null,
    accuracy: {},
    memory: { rssBytes: 1 },
    thermal: {},
    clock: { source: 'system', durationMs: 10_000 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: end,
    ...extra,
  };
}
