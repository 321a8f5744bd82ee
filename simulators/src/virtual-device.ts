/**
 * A simulated device: the real agent link with capabilities from a profile instead of the
 * host's. Later issues hang simulated sensors, inference and faults on it.
 */
import type { Logger } from 'pino';
import { AGENT_VERSION, createAgentLink, type AgentLink, type BackoffPolicy, type Clock, type LinkStats, type RandomSource } from '@edgefleet/agent';
import { simulatedCapabilities, type DeviceProfile } from './profiles/profiles.js';

export interface VirtualDeviceOptions {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly brokerUrl: string;
  readonly logger: Logger;
  /** onnxruntime version reported in hello (the simulating host's). */
  readonly onnxruntimeVersion: string;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly keepaliveS?: number;
  readonly heartbeatMs?: number;
  readonly backoff?: Partial<BackoffPolicy>;
}

export interface VirtualDevice {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly profile: DeviceProfile;
  /** The real link; tests and fault injection use it directly (e.g. `link.kill()`). */
  readonly link: AgentLink;
  start(): Promise<void>;
  stop(options?: { readonly clean?: boolean }): Promise<void>;
  isOnline(): boolean;
  stats(): LinkStats;
}

export function createVirtualDevice(options: VirtualDeviceOptions): VirtualDevice {
  const { deviceId, profile } = options;
  const link = createAgentLink({
    deviceId,
    deviceClass: profile.class,
    agentVersion: AGENT_VERSION,
    runtime: { node: process.version, onnxruntime: options.onnxruntimeVersion },
    capabilities: simulatedCapabilities(profile),
    brokerUrl: options.brokerUrl,
    logger: options.logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.keepaliveS === undefined ? {} : { keepaliveS: options.keepaliveS }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });
  return Object.freeze({
    deviceId,
    deviceClass: profile.class,
    profile,
    link,
    start: () => link.start(),
    stop: (stopOptions?: { readonly clean?: boolean }) => link.stop(stopOptions),
    isOnline: () => link.stats().state === 'online',
    stats: () => link.stats(),
  });
}
