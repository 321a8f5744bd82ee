/**
 * A simulated device: the real agent link with capabilities from a profile instead of the
 * host's. Later issues hang simulated sensors, inference and faults on it.
 */
import type { Logger } from 'pino';
import { AGENT_VERSION, createAgentLink, systemClock, type AgentLink, type BackoffPolicy, type Clock, type LinkStats, type RandomSource } from '@edgefleet/agent';
import { simulatedCapabilities, type DeviceProfile } from './profiles/profiles.js';
import { createSimTelemetry, type SimTelemetry, type SimTelemetryOptions } from './sim-telemetry.js';

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
  /** Modelled telemetry windows over the real outbox and link (issue 7); off when absent. */
  readonly telemetry?: Omit<SimTelemetryOptions, 'deviceId' | 'profile' | 'link' | 'clock' | 'random' | 'logger'> & { readonly random?: RandomSource };
}

export interface VirtualDevice {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly profile: DeviceProfile;
  /** The real link; tests and fault injection use it directly (e.g. `link.kill()`). */
  readonly link: AgentLink;
  /** Modelled telemetry and its fault-injection `condition` (null when telemetry is off). */
  readonly telemetry: SimTelemetry | null;
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
  const telemetry = options.telemetry ? createSimTelemetry({
    ...options.telemetry, deviceId, profile, link, logger: options.logger,
    clock: options.clock ?? systemClock, random: options.telemetry.random ?? options.random ?? Math.random,
  }) : null;
  return Object.freeze({
    deviceId,
    deviceClass: profile.class,
    profile,
    link,
    telemetry,
    start: () => { telemetry?.telemetry.start(); return link.start(); },
    stop: async (stopOptions?: { readonly clean?: boolean }) => { await telemetry?.telemetry.stop(); await link.stop(stopOptions); },
    isOnline: () => link.stats().state === 'online',
    stats: () => link.stats(),
  });
}
