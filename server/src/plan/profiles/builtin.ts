/**
 * The built-in class profiles (builtin-profiles.json), validated with the shared class schema
 * at load. They are the single source of class figures: `edgefleet class create NAME
 * --profile rpi4` copies one into the store, where it can be edited.
 */
import { z } from 'zod';
import { deviceClassInputSchema, type DeviceClassSpec } from '@edgefleet/shared';
import raw from './builtin-profiles.json' with { type: 'json' };

const fileSchema = z.object({ classes: z.array(deviceClassInputSchema).min(1) });

/** Validates a profiles document; a TypeError names every problem (the file ships with the code, so a bad one is a bug). */
export function parseBuiltinProfiles(doc: unknown): ReadonlyMap<string, DeviceClassSpec> {
  const parsed = fileSchema.safeParse(doc);
  if (!parsed.success) throw new TypeError(`invalid built-in class profiles:\n${z.prettifyError(parsed.error)}`);
  const out = new Map<string, DeviceClassSpec>();
  for (const c of parsed.data.classes) {
    if (out.has(c.name)) throw new TypeError(`invalid built-in class profiles: ${c.name} appears twice`);
    out.set(c.name, Object.freeze(c));
  }
  return out;
}

/** Built-in profiles by class name: mcu-gateway, rpi4, phone-npu, jetson-orin. */
export const BUILTIN_CLASS_PROFILES: ReadonlyMap<string, DeviceClassSpec> = parseBuiltinProfiles(raw);
