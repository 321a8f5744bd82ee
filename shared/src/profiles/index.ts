/**
 * The built-in device-class profiles (builtin-profiles.json): the one source of class figures
 * (capabilities, speed and power models, budgets, a source per figure). The planner copies them
 * into its store; the simulators derive their virtual devices from them, so a simulated rpi4
 * runs at the speed the planner predicts for one. Validated with the class schema on first use.
 */
import { createRequire } from 'node:module';
import * as z from 'zod';
import { deviceClassInputSchema, type DeviceClassSpec } from '../budgets.js';

// Read through require rather than `import … with { type: 'json' }`: the test runner's fast
// transpiler (SWC) drops import attributes, and tsc copies the file to dist either way.
const raw: unknown = createRequire(import.meta.url)('./builtin-profiles.json');

/** An array of strings, joined with spaces; anything else unchanged. */
function joinLines(value: unknown): unknown {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value.join(' ') : value;
}

/**
 * The file may write a long description or source as an array of lines (JSON has no line breaks
 * inside strings, and the repo keeps lines within 120 characters); they are joined with spaces here,
 * so the class schema, the store and the API see one string, as before.
 */
function joinProseLines(cls: unknown): unknown {
  if (typeof cls !== 'object' || cls === null || Array.isArray(cls)) return cls;
  const out: Record<string, unknown> = { ...cls };
  if ('description' in out) out['description'] = joinLines(out['description']);
  const sources = out['sources'];
  if (typeof sources === 'object' && sources !== null && !Array.isArray(sources)) {
    out['sources'] = Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, joinLines(v)]));
  }
  return out;
}

const fileSchema = z.object({ classes: z.array(z.preprocess(joinProseLines, deviceClassInputSchema)).min(1) });

/**
 * Validates a profiles document; a TypeError names every problem (the file ships with the code, so a bad one is a bug).
 */
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

let cached: ReadonlyMap<string, DeviceClassSpec> | undefined;

/**
 * Built-in profiles by class name, in file order: mcu-gateway, rpi4, phone-npu, jetson-orin. Parsed once, on first
 * call.
 */
export function builtinProfiles(): ReadonlyMap<string, DeviceClassSpec> {
  cached ??= parseBuiltinProfiles(raw);
  return cached;
}

/** One built-in profile, or undefined when no profile has that name. */
export function builtinProfile(name: string): DeviceClassSpec | undefined {
  return builtinProfiles().get(name);
}
