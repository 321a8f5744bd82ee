/**
 * Device profiles as data (profiles.json), checked with one zod schema at load. A profile
 * gives a simulated device its modelled capabilities; `speed` and `power` are the knobs the
 * telemetry issue turns into latency and energy figures.
 */
import { z } from 'zod';
import { capabilitiesSchema, classNameSchema, precisionSchema, type Capabilities } from '@edgefleet/shared';
import raw from './profiles.json' with { type: 'json' };

export const deviceProfileSchema = z.object({
  class: classNameSchema,
  description: z.string(),
  /** Modelled capabilities; `powerSource` is always `modelled` for simulated devices. */
  capabilities: capabilitiesSchema.omit({ powerSource: true }),
  speed: z.object({
    /** Latency on this class ÷ latency of the same model measured on the simulating host, per precision. Placeholder until calibrated. */
    latencyMultiplier: z.partialRecord(precisionSchema, z.number().positive()),
    /** Standard deviation of latency noise, % of the mean. */
    jitterPct: z.number().nonnegative().max(100),
    status: z.enum(['placeholder', 'calibrated']),
  }),
  power: z.object({
    idleW: z.number().nonnegative(),
    activeW: z.number().nonnegative(),
    status: z.enum(['placeholder', 'calibrated']),
  }),
  /** How much to trust the figures, in words. */
  confidence: z.string(),
  /** Where the figures come from. */
  sources: z.array(z.string()).min(1),
});
export type DeviceProfile = z.infer<typeof deviceProfileSchema>;

const profilesFileSchema = z.object({ profiles: z.array(deviceProfileSchema).min(1) });

/** Validates a profiles document; throws a TypeError naming every problem (the file ships with the code, so a bad one is a bug). */
export function parseProfiles(doc: unknown): ReadonlyMap<string, DeviceProfile> {
  const parsed = profilesFileSchema.safeParse(doc);
  if (!parsed.success) throw new TypeError(`invalid device profiles:\n${z.prettifyError(parsed.error)}`);
  const map = new Map<string, DeviceProfile>();
  for (const profile of parsed.data.profiles) {
    if (map.has(profile.class)) throw new TypeError(`invalid device profiles: class ${profile.class} appears twice`);
    map.set(profile.class, Object.freeze(profile));
  }
  return map;
}

/** The built-in profiles, by class name. */
export const BUILTIN_PROFILES: ReadonlyMap<string, DeviceProfile> = parseProfiles(raw);

/** The capabilities a simulated device of this profile reports in `hello`. */
export function simulatedCapabilities(profile: DeviceProfile): Capabilities {
  return { ...profile.capabilities, executionProviders: [...profile.capabilities.executionProviders], precisions: [...profile.capabilities.precisions], powerSource: 'modelled' };
}
