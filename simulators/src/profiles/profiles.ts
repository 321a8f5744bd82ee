/**
 * Simulated device profiles, derived from the built-in class profiles in @edgefleet/shared (the
 * planner's figures, a source each) plus a small simulator overlay for what only a simulation
 * needs: latency jitter and the execution providers a device announces. One source of speed and
 * power figures means a simulated class runs at the speed the planner predicts for it.
 */
import { z } from 'zod';
import {
  builtinProfiles,
  classNameSchema,
  type Capabilities,
  type DeviceClassSpec,
  type Precision,
} from '@edgefleet/shared';

/** Simulator-only figures for one class; everything else comes from the shared profile. */
export const simOverlaySchema = z.strictObject({
  /** Standard deviation of latency noise, % of the mean. */
  jitterPct: z.number().nonnegative().max(100),
  /** onnxruntime providers the real board offers (the simulator itself runs CPU onnxruntime and scales latency). */
  executionProviders: z.array(z.string().min(1).max(64)).min(1).max(32),
  /** Where the overlay figures come from, in words. */
  source: z.string().min(1),
});
export type SimOverlay = z.infer<typeof simOverlaySchema>;

/**
 * The classes a farm simulates, in this order (the demo takes the first three). A class of the
 * shared profiles without an entry here is not simulated; add one line to simulate it.
 */
export const SIM_OVERLAY: Readonly<Record<string, SimOverlay>> = Object.freeze({
  'mcu-gateway': {
    jitterPct: 15,
    executionProviders: ['cpu'],
    source: 'jitter: assumed (interrupt-driven MCU, shared bus)',
  },
  rpi4: { jitterPct: 10, executionProviders: ['cpu'], source: 'jitter: assumed (Linux scheduler, no accelerator)' },
  'jetson-orin': {
    jitterPct: 8,
    executionProviders: ['cpu', 'cuda', 'tensorrt'],
    source: 'jitter: assumed; providers: what JetPack offers on the board',
  },
});

/** A simulated device's profile: shared figures (speed factors, power per precision) plus the overlay. */
export interface DeviceProfile {
  readonly class: string;
  readonly description: string;
  /** Modelled capabilities as announced in `hello`; `powerSource` is always `modelled`. */
  readonly capabilities: Omit<Capabilities, 'powerSource'>;
  readonly speed: {
    /** Latency on this class ÷ host latency of the same model, per precision (the shared speed factors). */
    readonly latencyMultiplier: Readonly<Partial<Record<Precision, number>>>;
    readonly jitterPct: number;
    readonly status: DeviceClassSpec['speedModel']['status'];
  };
  /** Watts idle and while inferring, per precision (the shared power model). */
  readonly power: { readonly idleW: number; readonly activeW: Readonly<Partial<Record<Precision, number>>> };
  /** Figure origins by dotted path: the shared profile's, plus `simulation` for the overlay. */
  readonly sources: Readonly<Record<string, string>>;
}

/**
 * Combines shared class profiles with overlays; a TypeError when an overlay names no shared class (a bug: both ship
 * with the code).
 */
export function deriveDeviceProfiles(
  classes: ReadonlyMap<string, DeviceClassSpec>,
  overlay: Readonly<Record<string, unknown>>,
): ReadonlyMap<string, DeviceProfile> {
  const out = new Map<string, DeviceProfile>();
  for (const [name, rawOverlay] of Object.entries(overlay)) {
    const spec = classes.get(name);
    const parsed = simOverlaySchema.safeParse(rawOverlay);
    if (!classNameSchema.safeParse(name).success || !spec)
      throw new TypeError(
        `invalid simulator overlay: class ${name} has no built-in profile; known: ${[...classes.keys()].join(', ')}`,
      );
    if (!parsed.success)
      throw new TypeError(`invalid simulator overlay for ${name}:\n${z.prettifyError(parsed.error)}`);
    const o = parsed.data;
    const caps = spec.capabilities;
    out.set(
      name,
      Object.freeze({
        class: name,
        description: spec.description,
        capabilities: {
          cpuModel: `${caps.processor || name} (simulated)`,
          cores: caps.cores,
          memoryBytes: caps.memoryBytes,
          executionProviders: o.executionProviders,
          precisions: caps.precisions,
        },
        speed: { latencyMultiplier: spec.speedModel.factors, jitterPct: o.jitterPct, status: spec.speedModel.status },
        power: { idleW: spec.powerModel.idleW, activeW: spec.powerModel.activeW },
        sources: { ...spec.sources, simulation: o.source },
      }),
    );
  }
  return out;
}

/** The simulated classes, by name (see {@link SIM_OVERLAY}). */
export const BUILTIN_PROFILES: ReadonlyMap<string, DeviceProfile> = deriveDeviceProfiles(
  builtinProfiles(),
  SIM_OVERLAY,
);

/** Active watts for a precision; the highest figure when the class has none for it (a conservative model). */
export function activePowerW(profile: DeviceProfile, precision: Precision | undefined): number {
  const byPrecision = precision === undefined ? undefined : profile.power.activeW[precision];
  return byPrecision ?? Math.max(profile.power.idleW, ...Object.values(profile.power.activeW));
}

/** The capabilities a simulated device of this profile reports in `hello`. */
export function simulatedCapabilities(profile: DeviceProfile): Capabilities {
  return {
    ...profile.capabilities,
    executionProviders: [...profile.capabilities.executionProviders],
    precisions: [...profile.capabilities.precisions],
    powerSource: 'modelled',
  };
}
