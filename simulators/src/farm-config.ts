/**
 * The farm command's options: one zod schema with defaults, problems reported with their
 * dotted paths as EF_ERR_CONFIG_INVALID (the CLI exits 2).
 */
import { z } from 'zod';
import { classNameSchema, DEFAULT_HEARTBEAT_MS, DEFAULT_KEEPALIVE_S, configInvalidError } from '@edgefleet/shared';
import { BUILTIN_PROFILES } from './profiles/profiles.js';

function numeric<T extends z.ZodType>(schema: T) {
  return z.preprocess(
    (value) =>
      typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value,
    schema,
  );
}

const classListSchema = z
  .preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : value,
    z.array(classNameSchema).min(1, 'name at least one device class'),
  )
  .refine((classes) => classes.every((c) => BUILTIN_PROFILES.has(c)), {
    message: `unknown device class; known classes: ${[...BUILTIN_PROFILES.keys()].join(', ')}`,
  });

export const farmConfigSchema = z.strictObject({
  /** Number of virtual devices. Default 10. */
  devices: numeric(z.number().int().min(1).max(100_000)).default(10),
  /** Device classes (comma-separated on the command line). Default: every built-in profile. */
  classes: classListSchema.default([...BUILTIN_PROFILES.keys()]),
  /** Broker the devices connect to. Default `mqtt://127.0.0.1:1883`. */
  brokerUrl: z
    .string()
    .refine(
      (v) => URL.canParse(v) && ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:'].includes(new URL(v).protocol),
      'broker must be a URL such as mqtt://host:1883',
    )
    .default('mqtt://127.0.0.1:1883'),
  /** Seed for class assignment and jitter. Default 1. */
  seed: numeric(
    z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
  ).default(1),
  /** Device ids are `${idPrefix}-${n}`. Default `sim`. */
  idPrefix: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/,
      'id prefix: up to 41 of A-Z a-z 0-9 _ . -, starting with a letter or digit',
    )
    .default('sim'),
  /** MQTT keepalive per device, seconds. Default 10. */
  keepaliveS: numeric(z.number().int().min(1).max(3600)).default(DEFAULT_KEEPALIVE_S),
  /** Heartbeat interval per device, ms. Default 5000. */
  heartbeatMs: numeric(z.number().int().min(100).max(3_600_000)).default(DEFAULT_HEARTBEAT_MS),
});
export type FarmConfig = z.infer<typeof farmConfigSchema>;

/** Parses farm options (flags, env) into a frozen config or throws EF_ERR_CONFIG_INVALID. */
export function parseFarmConfig(input: Readonly<Record<string, unknown>>): Readonly<FarmConfig> {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const result = farmConfigSchema.safeParse(defined);
  if (!result.success)
    throw configInvalidError('farm options', result.error, 'fix the flags named above (see edgefleet farm --help)');
  return Object.freeze(result.data);
}

/** `online 17/20 · mcu-gateway 6/7 · rpi4 6/7 · jetson-orin 5/6` */
export function formatOnlineSummary(
  online: Readonly<Record<string, number>>,
  totals: Readonly<Record<string, number>>,
): string {
  const classes = Object.keys(totals);
  const sum = (r: Readonly<Record<string, number>>) => classes.reduce((n, c) => n + (r[c] ?? 0), 0);
  return [
    `online ${sum(online)}/${sum(totals)}`,
    ...classes.map((c) => `${c} ${online[c] ?? 0}/${totals[c] ?? 0}`),
  ].join(' · ');
}
