/**
 * Real-inference mode for small farms [issue 7]: each virtual device is a full agent device
 * (agent/src/device.ts) with its own data dir, artifact store, signed-manifest swap and an
 * onnxruntime worker thread, running a synthetic workload on whatever it serves. Only what
 * this host cannot be is modelled:
 *   - latency: every inference is timed for real, then multiplied by the class speed factor
 *     for the serving precision × the device's condition (faults); windows say
 *     `latencyMs.source: measured` with that `speedFactor`, so nobody mistakes it for a board's
 *     own measurement;
 *   - power: the profile's idle/active watts over the (scaled) duty cycle, `source: modelled`;
 *   - thermal: the condition's `throttled` flag.
 * Scheduled faults: throttling multiplies the speed factor and sets `throttled`; disconnects
 * and crashes take the link's network away until they end (a crashed device's worker keeps
 * running here: only its connection dies); clock skew shifts the device's clock. A wrong
 * int8 unit is not simulated in this mode, since the golden set runs on real outputs.
 * The local inference API is off. Capabilities in `hello` are the profile's.
 */
import { join } from 'node:path';
import { AGENT_VERSION, createDevice, createModelledPowerSource, type Device } from '@edgefleet/agent';
import type { Precision, TrustedKey } from '@edgefleet/shared';
import { simulatedCapabilities, type DeviceProfile } from '../profiles/profiles.js';
import type { DeviceCondition } from '../sim-telemetry.js';
import { deviceFaultsAndClock, type FarmDeviceBase, type VirtualDevice } from '../virtual-device.js';
import { stripUndefined } from '@edgefleet/shared';

/** Farm-wide settings of real-inference mode. */
export interface RealInferenceOptions {
  /** Each device keeps its artifacts, state and telemetry outbox in `<dataDir>/<deviceId>`. */
  readonly dataDir: string;
  /** Public keys manifests must be signed with (the server's). */
  readonly trustedKeys: readonly TrustedKey[];
  /** onnxruntime intra-op threads per device worker. Default 1 (tens of workers share the host). */
  readonly intraOpNumThreads?: number;
  /** Synthetic inferences per second per device on the serving model. Default 2. */
  readonly workloadRatePerS?: number;
  /** Telemetry window, ms (0: tests call `agent.telemetry.closeWindow()`). Default 10 000. */
  readonly windowMs?: number;
  /** Golden-set re-run interval, ms. Default: the agent's (600 000). */
  readonly goldenIntervalMs?: number;
  /** Precision of a deployed variant, which picks the class speed factor and active watts. Default `fp32` for all. */
  readonly precisionOf?: (variantId: string, sha256: string) => Precision | undefined;
  readonly watcher?: { readonly k?: number; readonly n?: number };
}

export interface RealDeviceOptions extends RealInferenceOptions, FarmDeviceBase {}

/** A farm device running real inference; `agent` is the full device, `condition` the fault handle. */
export interface RealVirtualDevice extends VirtualDevice {
  readonly agent: Device;
  readonly condition: DeviceCondition;
  /** The factor measured latencies are multiplied by right now. */
  speedFactor(): number;
}

type ActiveWatts = number | Readonly<Partial<Record<Precision, number>>>;

/** Active watts of a profile for a precision; the highest figure when it has none for that precision. */
function activeWatts(profile: DeviceProfile, precision: Precision): number {
  const active: ActiveWatts = profile.power.activeW;
  if (typeof active === 'number') return active;
  return active[precision] ?? Math.max(profile.power.idleW, ...Object.values(active));
}

/** Class speed factor for a precision (fp32's, else 1, when the class has none for it). */
function classFactor(profile: DeviceProfile, precision: Precision): number {
  const m = profile.speed.latencyMultiplier;
  return m[precision] ?? m.fp32 ?? 1;
}

/** Creates (does not start) one real-inference virtual device. */
export async function createRealVirtualDevice(options: RealDeviceOptions): Promise<RealVirtualDevice> {
  const { deviceId, profile } = options;
  const condition: DeviceCondition = { speedFactor: 1, accuracyOffset: 0, throttled: false };
  const { faults, clock } = deviceFaultsAndClock(options);
  // The agent is created before it can be asked what it serves; the readers look it up late.
  let agent: Device | null = null;
  const precision = (): Precision => {
    const model = agent?.serving.current();
    return (model && options.precisionOf?.(model.variantId, model.sha256)) ?? 'fp32';
  };
  const speedFactor = (): number =>
    classFactor(profile, precision()) * Math.max(1e-3, condition.speedFactor) * faults.effects().slowdown;
  agent = await createDevice({
    link: {
      deviceId,
      deviceClass: profile.class,
      agentVersion: AGENT_VERSION,
      runtime: { node: process.version, onnxruntime: options.onnxruntimeVersion },
      capabilities: simulatedCapabilities(profile),
      brokerUrl: options.brokerUrl,
      ...stripUndefined({ keepaliveS: options.keepaliveS, heartbeatMs: options.heartbeatMs, backoff: options.backoff }),
    },
    dataDir: join(options.dataDir, deviceId),
    trustedKeys: options.trustedKeys,
    logger: options.logger,
    clock,
    ...stripUndefined({ random: options.random }),
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    serve: false,
    workloadRatePerS: options.workloadRatePerS ?? 2,
    telemetry: {
      ...stripUndefined({
        windowMs: options.windowMs,
        goldenIntervalMs: options.goldenIntervalMs,
        watcher: options.watcher,
      }),
      latencyScale: speedFactor,
      readers: {
        // The host's RAPL/hwmon would describe the simulating machine, not this board.
        power: createModelledPowerSource(
          () => ({ idleW: profile.power.idleW, activeW: activeWatts(profile, precision()) }),
          'profile',
        ),
        thermal: {
          begin: () => undefined,
          end: () => ({ throttled: condition.throttled || faults.effects().throttled }),
        },
      },
    },
  });
  const device = agent;
  return Object.freeze({
    deviceId,
    deviceClass: profile.class,
    profile,
    link: device.link,
    telemetry: null,
    agent: device,
    condition,
    speedFactor,
    start: async () => {
      await device.start();
      faults.start((fx) => device.link.setReachable(fx.online));
    },
    stop: (stopOptions?: { readonly clean?: boolean }) => {
      faults.stop();
      return device.stop(stopOptions);
    },
    isOnline: () => device.link.stats().state === 'online',
    stats: () => device.link.stats(),
    faultEffects: faults.effects,
  });
}
