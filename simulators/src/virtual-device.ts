/**
 * A simulated device: the real agent link with capabilities from a profile instead of the
 * host's, modelled telemetry over the agent's real telemetry pipeline, and scheduled faults:
 * throttling and a wrong int8 unit show in its windows, a disconnect drops its network (the
 * outbox fills, then flushes in order), a crash stops its windows and its link until the
 * fault ends, and clock skew shifts its own clock.
 */
import type { Logger } from 'pino';
import {
  AGENT_VERSION,
  createAgentLink,
  systemClock,
  type AgentLink,
  type BackoffPolicy,
  type Clock,
  type LinkStats,
  type RandomSource,
} from '@edgefleet/agent';
import { deviceFaults, skewedClock, type DeviceFaults } from './faults/device-faults.js';
import type { Fault, FaultEffects } from './faults/faults.js';
import { simulatedCapabilities, type DeviceProfile } from './profiles/profiles.js';
import { createSimTelemetry, type SimTelemetry, type SimTelemetryOptions } from './sim-telemetry.js';
import { stripUndefined } from '@edgefleet/shared';

/** What every farm device is made from, whatever its inference mode. */
export interface FarmDeviceBase {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly brokerUrl: string;
  readonly logger: Logger;
  /** onnxruntime version reported in hello (the simulating host's). */
  readonly onnxruntimeVersion: string;
  /** The farm's clock (default the process clock); faults' `startAt` is on it. */
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly keepaliveS?: number;
  readonly heartbeatMs?: number;
  readonly backoff?: Partial<BackoffPolicy>;
  /** Scheduled faults; those not targeting this device are ignored. */
  readonly faults?: readonly Fault[];
}

export interface VirtualDeviceOptions extends FarmDeviceBase {
  /** Modelled telemetry windows over the real outbox and link (issue 7); off when absent. */
  readonly telemetry?: Omit<
    SimTelemetryOptions,
    'deviceId' | 'profile' | 'link' | 'clock' | 'random' | 'logger' | 'effects'
  > & { readonly random?: RandomSource };
}

export interface VirtualDevice {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly profile: DeviceProfile;
  /** The real link; tests and fault injection use it directly (e.g. `link.setReachable(false)`). */
  readonly link: AgentLink;
  /** Modelled telemetry and its fault-injection `condition` (null when telemetry is off). */
  readonly telemetry: SimTelemetry | null;
  start(): Promise<void>;
  stop(options?: { readonly clean?: boolean }): Promise<void>;
  isOnline(): boolean;
  stats(): LinkStats;
  /** What the scheduled faults do to this device now. */
  faultEffects(): FaultEffects;
}

/**
 * The device's fault handle and its clock (the farm's, skewed while a clock-skew fault lasts);
 * both device kinds (sampled and real inference) are built on these.
 */
export function deviceFaultsAndClock(o: {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly clock?: Clock;
  readonly faults?: readonly Fault[];
}): { readonly faults: DeviceFaults; readonly clock: Clock } {
  const base = o.clock ?? systemClock;
  const faults = deviceFaults(o.faults ?? [], o.deviceId, o.profile.class, base);
  return { faults, clock: o.faults && o.faults.length > 0 ? skewedClock(base, faults) : base };
}

export function createVirtualDevice(options: VirtualDeviceOptions): VirtualDevice {
  const { deviceId, profile } = options;
  const { faults, clock } = deviceFaultsAndClock(options);
  const link = createAgentLink({
    deviceId,
    deviceClass: profile.class,
    agentVersion: AGENT_VERSION,
    runtime: { node: process.version, onnxruntime: options.onnxruntimeVersion },
    capabilities: simulatedCapabilities(profile),
    brokerUrl: options.brokerUrl,
    logger: options.logger,
    clock,
    // What the device serves goes in its hello and heartbeats, as the agent's do: without it the
    // server records every farm device as serving nothing and catches it up again and again.
    currentModel: () => telemetry?.model()?.sha256 ?? null,
    ...stripUndefined({
      random: options.random,
      keepaliveS: options.keepaliveS,
      heartbeatMs: options.heartbeatMs,
      backoff: options.backoff,
    }),
  });
  const telemetry = options.telemetry
    ? createSimTelemetry({
        ...options.telemetry,
        deviceId,
        profile,
        link,
        logger: options.logger,
        effects: faults.effects,
        clock,
        random: options.telemetry.random ?? options.random ?? Math.random,
      })
    : null;
  let down = false;
  /** A fault boundary: the network comes and goes with `online`; a crash also stops the windows until the restart. */
  function applyFaults(fx: FaultEffects): void {
    link.setReachable(fx.online);
    if (!telemetry || fx.crashed === down) return;
    down = fx.crashed;
    if (down) void telemetry.telemetry.stop();
    else telemetry.telemetry.start();
  }
  return Object.freeze({
    deviceId,
    deviceClass: profile.class,
    profile,
    link,
    telemetry,
    start: () => {
      telemetry?.telemetry.start();
      const online = link.start();
      faults.start(applyFaults);
      return online;
    },
    stop: async (stopOptions?: { readonly clean?: boolean }) => {
      faults.stop();
      await telemetry?.telemetry.stop();
      await link.stop(stopOptions);
    },
    isOnline: () => link.stats().state === 'online',
    stats: () => link.stats(),
    faultEffects: faults.effects,
  });
}
