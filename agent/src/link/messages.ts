/**
 * How the agent publishes each device-to-server channel, and builders for the presence
 * messages it sends on its own [EF-PROTO 2, 3].
 */
import {
  PROTOCOL_VERSION,
  type Capabilities,
  type DeviceChannel,
  type Heartbeat,
  type Hello,
  type Status,
} from '@edgefleet/shared/device';

/** QoS and retain flag per channel, as PROTOCOL.md's topic table says. */
export const PUBLISH_OPTIONS: Readonly<Record<DeviceChannel, { readonly qos: 0 | 1; readonly retain: boolean }>> =
  Object.freeze({
    hello: { qos: 1, retain: false },
    status: { qos: 1, retain: true },
    // A lost heartbeat only delays last-seen; QoS 0 keeps it out of any queue.
    heartbeat: { qos: 0, retain: false },
    telemetry: { qos: 1, retain: false },
    events: { qos: 1, retain: false },
    'chunk-req': { qos: 1, retain: false },
  });

/** What the agent says about itself in `hello`. */
export interface DeviceIdentity {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly agentVersion: string;
  readonly runtime: { readonly node: string; readonly onnxruntime: string };
  readonly capabilities: Capabilities;
}

export function buildHello(identity: DeviceIdentity, currentModel: string | null, now: number): Hello {
  return {
    type: 'hello',
    v: PROTOCOL_VERSION,
    deviceId: identity.deviceId,
    deviceClass: identity.deviceClass,
    agentVersion: identity.agentVersion,
    runtime: { ...identity.runtime },
    capabilities: {
      ...identity.capabilities,
      executionProviders: [...identity.capabilities.executionProviders],
      precisions: [...identity.capabilities.precisions],
    },
    currentModel,
    sentAt: now,
  };
}

export function buildStatus(deviceId: string, state: Status['state'], reason: Status['reason'], now: number): Status {
  return { type: 'status', v: PROTOCOL_VERSION, deviceId, state, reason, sentAt: now };
}

export function buildHeartbeat(
  deviceId: string,
  seq: number,
  uptimeMs: number,
  currentModel: string | null,
  now: number,
): Heartbeat {
  return {
    type: 'heartbeat',
    v: PROTOCOL_VERSION,
    deviceId,
    seq,
    uptimeMs: Math.max(0, Math.round(uptimeMs)),
    currentModel,
    sentAt: now,
  };
}
