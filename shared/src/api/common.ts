import * as z from 'zod';

/**
 * Every admin API error body: a stable code from ERROR_CATALOGUE, a message saying what to
 * do next, and details (validation issues, limits, ids) [STYLE 5].
 */
export const apiErrorSchema = z.object({
  code: z.string().regex(/^EF_ERR_[A-Z0-9_]+$/),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

/** `GET /health`: the process is up. */
export const healthSchema = z.object({
  status: z.literal('ok'),
  version: z.string(),
  uptimeS: z.number().nonnegative(),
});

/** `GET /ready`: the store is open and the broker connection is up. */
export const readinessSchema = z.object({
  ready: z.boolean(),
  checks: z.object({ store: z.boolean(), broker: z.boolean() }),
});
export type Readiness = z.infer<typeof readinessSchema>;

/** A path parameter that is an id made of the device-id alphabet. */
export const idParamsSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'id: 1–64 of A-Z a-z 0-9 _ . -'),
});

/** Milliseconds since the epoch by the server's clock. */
export const serverTimeSchema = z.number().int().nonnegative();
