/**
 * A farm of virtual devices in one process, each a real MQTT connection through the real
 * agent link. Class assignment and every device's randomness come from one seed.
 */
import type { Logger } from 'pino';
import { describeOrt, type Clock, type TelemetryDelivery } from '@edgefleet/agent';
import { isValidDeviceId, parseTrustedKey, stripUndefined, type TrustedKey } from '@edgefleet/shared';
import { BUILTIN_PROFILES, type DeviceProfile } from './profiles/profiles.js';
import { createSeededRandom, deriveSeed, shuffled } from '@edgefleet/shared';
import { createVirtualDevice, type VirtualDevice } from './virtual-device.js';
import { simDataDir, type SimulatedModel } from './sim-telemetry.js';
import { createRealVirtualDevice, type RealInferenceOptions } from './real/real-device.js';
import type { Fault } from './faults/faults.js';
import { startCpuQuotaFaults, type CpuQuotaFaults } from './faults/cpu-quota-faults.js';
import { EdgefleetError, systemClock } from '@edgefleet/shared';
import { unsimulatedClassError, type FarmIdentity } from './farm-enroll.js';

/** How farm devices infer: not at all, modelled (sampled) telemetry, or real ORT workers. */
export type FarmInferenceMode = 'none' | 'sampled' | 'real';

/** Real inference runs one onnxruntime worker per device; beyond this, use sampled mode. */
export const MAX_REAL_INFERENCE_DEVICES = 100;

export interface FarmOptions {
  readonly brokerUrl: string;
  /** Number of devices, 1–100 000. */
  readonly devices: number;
  /** Class names, each a key of the profiles (default: the built-in profiles). */
  readonly classes: readonly string[];
  /** Seed for class assignment and per-device jitter. Default 1. */
  readonly seed?: number;
  readonly logger: Logger;
  /** Device ids are `${idPrefix}-${n}`. Default `sim`. */
  readonly idPrefix?: string;
  readonly keepaliveS?: number;
  readonly heartbeatMs?: number;
  readonly clock?: Clock;
  /** Profiles to draw from. Default {@link BUILTIN_PROFILES}. */
  readonly profiles?: ReadonlyMap<string, DeviceProfile>;
  /** Broker URL per device, e.g. with that device's credentials as user info. Default: `brokerUrl` for all. */
  readonly brokerUrlFor?: (deviceId: string) => string;
  /**
   * Enrolled identities by planned id (`enrollFarmDevices`): such a device takes the identity's
   * id, class (its profile) and credentials instead of the plan's.
   */
  readonly identities?: ReadonlyMap<string, FarmIdentity>;
  /**
   * Modelled telemetry per device (issue 7); each device keeps its outbox in `<dataDir>/<deviceId>`. Off when absent.
   */
  readonly telemetry?: {
    readonly dataDir: string;
    /** Window length, ms (0: tests call `closeWindow()`). Default 10 000. */
    readonly windowMs?: number;
    /** Modelled inferences per second per device. Default 5. */
    readonly ratePerS?: number;
    /** What each class serves at start. Default: nothing. */
    readonly model?: (deviceClass: string) => SimulatedModel | null;
    readonly watcher?: { readonly k?: number; readonly n?: number };
    /** Default `server-ack` (the edgefleet server acknowledges); `broker-ack` for a broker with no edgefleet server. */
    readonly delivery?: TelemetryDelivery;
  };
  /**
   * `real`: every device is a full agent device (ORT worker, artifacts, swap) with `real`'s
   * settings; `sampled`: modelled telemetry (needs `telemetry`); `none`: link only.
   * Default: `sampled` when `telemetry` is given, else `none` (what farms always did).
   */
  readonly inference?: FarmInferenceMode;
  /** Settings of real-inference mode; required when `inference` is `real`. */
  readonly real?: RealInferenceOptions;
  /** Scheduled faults (`startAt` on the farm's clock), each targeting a class or device ids. */
  readonly faults?: readonly Fault[];
  /**
   * At most this many devices connecting for the first time at once; the next starts when one
   * is online (or gives up). Default: all at once. Thousands of CONNECTs in one burst on a busy
   * host outlast the link's connect timeout, every device retries, and the fleet never comes up
   * (seen with 10,000 devices on 2 loaded cores); a window keeps the burst to what the broker
   * answers in time, whatever the host's speed.
   */
  readonly maxConnecting?: number;
}

export interface Farm {
  readonly devices: readonly VirtualDevice[];
  /** Stops every device with a clean disconnect. */
  stop(): Promise<void>;
  /** Devices online now, per class (every farm class present, zero included). */
  onlineCount(): Record<string, number>;
  /** Devices per class, online or not. */
  classTotals(): Record<string, number>;
}

/**
 * Spreads `count` devices over `classes` as evenly as possible (counts differ by at most one)
 * and shuffles the result with the seed, so which device gets which class is reproducible.
 */
/** The device ids a farm of `count` devices uses (`sim-01`…), so credentials can be provisioned before it starts. */
export function farmDeviceIds(count: number, idPrefix = 'sim'): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `${idPrefix}-${String(i + 1).padStart(width, '0')}`);
}

export function assignClasses(count: number, classes: readonly string[], seed: number): string[] {
  const plan: string[] = [];
  for (let i = 0; i < count; i += 1) plan.push(classes[i % classes.length] as string);
  return shuffled(plan, createSeededRandom(deriveSeed(seed, 'classes')));
}

function checkFarmOptions(options: FarmOptions, profiles: ReadonlyMap<string, DeviceProfile>): void {
  if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > 100_000) {
    throw new RangeError(`devices must be an integer from 1 to 100000, got ${options.devices}`);
  }
  if (options.classes.length === 0) throw new RangeError('at least one device class is needed');
  const unknown = options.classes.filter((c) => !profiles.has(c));
  if (unknown.length > 0) {
    throw new RangeError(
      `unknown device class ${unknown.join(', ')}; known classes: ${[...profiles.keys()].join(', ')}`,
    );
  }
  const mode = farmInferenceMode(options);
  if (mode === 'real' && !options.real)
    throw new RangeError('real inference needs its settings (data dir, trusted keys): pass `real`');
  if (mode === 'real' && options.devices > MAX_REAL_INFERENCE_DEVICES) {
    throw new RangeError(
      `real inference runs one onnxruntime worker per device; ${options.devices} devices is too many (at most ` +
        `${MAX_REAL_INFERENCE_DEVICES}), use sampled inference`,
    );
  }
  if (mode === 'sampled' && !options.telemetry)
    throw new RangeError('sampled inference needs `telemetry` (at least its data dir)');
  if (mode !== 'real' && options.faults?.some((f) => f.kind === 'cpu-quota'))
    throw new EdgefleetError(
      'EF_ERR_FAULT_CGROUP',
      `a cpu-quota fault throttles a real process through cgroups, and ${mode} devices run no inference of their own ` +
        `to throttle; use --inference real, or thermal-throttle to model a slowdown`,
    );
  const prefix = options.idPrefix ?? 'sim';
  if (!isValidDeviceId(`${prefix}-${options.devices}`))
    throw new RangeError(`id prefix ${JSON.stringify(prefix)} does not make valid device ids`);
}

/** Starts every device, at most `window` of them still waiting for their first CONNACK at a time. */
function startDevices(devices: readonly VirtualDevice[], window: number, log: Logger): void {
  let next = 0;
  const launch = (): void => {
    const device = devices[next];
    next += 1;
    if (!device) return;
    device
      .start()
      .catch((err: unknown) => log.debug({ err, deviceId: device.deviceId }, 'device stopped before it came online'))
      .finally(launch);
  };
  for (let i = 0; i < Math.max(1, Math.min(window, devices.length)); i += 1) launch();
}

/** `keys` plus the enrolled signing keys that are not among them already (by public key). */
function withEnrolledKeys(keys: readonly TrustedKey[], enrolled: readonly string[]): readonly TrustedKey[] {
  const known = new Set(keys.map((k) => k.publicKey));
  return [...keys, ...enrolled.filter((k) => !known.has(k.trim())).map(parseTrustedKey)];
}

/** The mode a farm runs in: `inference` when given, else what the other options imply. */
export function farmInferenceMode(options: Pick<FarmOptions, 'inference' | 'telemetry'>): FarmInferenceMode {
  return options.inference ?? (options.telemetry ? 'sampled' : 'none');
}

function countByClass(classes: readonly string[], devices: readonly VirtualDevice[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
  for (const d of devices) counts[d.deviceClass] = (counts[d.deviceClass] ?? 0) + 1;
  return counts;
}

function farmTelemetry(t: NonNullable<FarmOptions['telemetry']>, seed: number, deviceId: string, deviceClass: string) {
  return {
    dataDir: simDataDir(t.dataDir, deviceId),
    // Its own stream, so telemetry jitter never shifts the link's reconnect jitter.
    random: createSeededRandom(deriveSeed(seed, `${deviceId}:telemetry`)),
    model: t.model?.(deviceClass) ?? null,
    ...stripUndefined({ windowMs: t.windowMs, ratePerS: t.ratePerS, watcher: t.watcher, delivery: t.delivery }),
  };
}

/** Starts a farm: devices begin connecting at once; watch `onlineCount()` for progress. */
export async function startFarm(options: FarmOptions): Promise<Farm> {
  const profiles = options.profiles ?? BUILTIN_PROFILES;
  checkFarmOptions(options, profiles);
  const seed = options.seed ?? 1;
  const prefix = options.idPrefix ?? 'sim';
  const ids = farmDeviceIds(options.devices, prefix);
  const ort = await describeOrt();
  const log = options.logger.child({ component: 'farm' });
  const plan = assignClasses(options.devices, options.classes, seed);
  const mode = farmInferenceMode(options);
  const devices: VirtualDevice[] = await Promise.all(
    plan.map(async (planned, i) => {
      const identity = options.identities?.get(ids[i] as string);
      const deviceId = identity?.deviceId ?? (ids[i] as string);
      const cls = identity?.deviceClass ?? planned;
      const profile = profiles.get(cls);
      if (!profile) throw unsimulatedClassError(cls, profiles.keys());
      const common = {
        deviceId,
        profile,
        brokerUrl: identity?.brokerUrl ?? (options.brokerUrlFor ? options.brokerUrlFor(deviceId) : options.brokerUrl),
        logger: options.logger,
        onnxruntimeVersion: ort.version,
        random: createSeededRandom(deriveSeed(seed, deviceId)),
        ...stripUndefined({
          clock: options.clock,
          keepaliveS: options.keepaliveS,
          heartbeatMs: options.heartbeatMs,
          faults: options.faults,
        }),
      };
      if (mode === 'real' && options.real) {
        // An enrolled device trusts the keys its enrollment answer named, as a real agent does.
        const trustedKeys = withEnrolledKeys(options.real.trustedKeys, identity?.signingKeys ?? []);
        return createRealVirtualDevice({ ...options.real, ...common, trustedKeys });
      }
      return createVirtualDevice({
        ...common,
        ...(mode === 'sampled' && options.telemetry
          ? { telemetry: farmTelemetry(options.telemetry, seed, deviceId, cls) }
          : {}),
      });
    }),
  );
  // All devices of this farm live in this process: a cpu-quota fault throttles the process.
  let quotas: CpuQuotaFaults | null = null;
  try {
    quotas = startCpuQuotaFaults({
      faults: options.faults ?? [],
      processes: devices.map((d) => ({ deviceId: d.deviceId, deviceClass: d.deviceClass, pid: process.pid })),
      clock: options.clock ?? systemClock,
      onChange: (c) => log.info({ cores: c.cores, periodMs: c.periodMs, pid: c.pid }, 'cpu quota changed'),
    });
  } catch (err: unknown) {
    await Promise.all(devices.map((d) => d.stop({ clean: true }).catch(() => undefined)));
    throw err;
  }
  startDevices(devices, options.maxConnecting ?? devices.length, log);
  log.info({ devices: devices.length, classes: options.classes, seed, inference: mode }, 'farm started');
  return Object.freeze({
    devices: Object.freeze(devices),
    stop: async () => {
      quotas?.stop();
      await Promise.all(devices.map((d) => d.stop({ clean: true })));
      log.info('farm stopped');
    },
    onlineCount: () =>
      countByClass(
        options.classes,
        devices.filter((d) => d.isOnline()),
      ),
    classTotals: () => countByClass(options.classes, devices),
  });
}
