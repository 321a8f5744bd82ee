import * as z from 'zod';
import { DEVICE_ID_PATTERN } from '../topics.js';

/** Protocol version carried as `v` by every message. */
export const PROTOCOL_VERSION = 1 as const;

export const deviceIdSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'device id: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');
/** Device class names share the device-id alphabet so they can appear in topics and file names. */
export const classNameSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'class name: 1–64 of A-Z a-z 0-9 _ . -, starting with a letter or digit');
export const precisionSchema = z.enum(['fp32', 'fp16', 'int8', 'int4']);
export type Precision = z.infer<typeof precisionSchema>;

/** Milliseconds since the Unix epoch, as measured by the sender's clock. */
export const epochMsSchema = z.number().int().nonnegative();
export const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'sha256: 64 lowercase hex digits');

/** Builds the `{type, v}` header every message starts with. */
export function header<T extends string>(type: T) {
  return { type: z.literal(type), v: z.literal(PROTOCOL_VERSION) };
}
