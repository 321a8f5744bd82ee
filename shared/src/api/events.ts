import * as z from 'zod';
import { serverTimeSchema } from './common.js';

/**
 * Fleet events on the server's in-process bus and its SSE stream (`GET /v1/events`). Each
 * has a literal `type`; an area that publishes a new kind adds it here.
 */
/** One built candidate of a plan in progress: size, accuracy, host and predicted figures, or why it failed. */
export const planBuiltSummarySchema = z.object({
  ok: z.boolean(),
  bytes: z.number().int().nullable(),
  /** Top-1 (or top-1 agreement with the original on unlabelled data), percent. */
  accuracyPct: z.number().nullable(),
  hostP95Ms: z.number().nullable(),
  /** Host p95 × the class's modelled speed factor; null when the class cannot run the precision. */
  predictedP95Ms: z.number().nullable(),
  predictedMj: z.number().nullable(),
  error: z.string().nullable(),
});
export type PlanBuiltSummary = z.infer<typeof planBuiltSummarySchema>;

export const fleetEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('device.online'), deviceId: z.string() }),
  z.object({ type: z.literal('device.offline'), deviceId: z.string(), reason: z.string() }),
  z.object({
    type: z.literal('device.enrolled'),
    deviceId: z.string(),
    deviceClass: z.string(),
    enrollTokenId: z.string(),
  }),
  z.object({ type: z.literal('device.revoked'), deviceId: z.string(), disconnected: z.boolean() }),
  /** A connection the embedded broker refused: bad credentials, revoked, rate-limited. */
  z.object({ type: z.literal('broker.refused'), clientId: z.string(), reason: z.string() }),
  z.object({ type: z.literal('token.created'), tokenId: z.string(), scope: z.string() }),
  z.object({ type: z.literal('token.revoked'), tokenId: z.string() }),
  z.object({ type: z.literal('enroll-token.created'), tokenId: z.string(), deviceClass: z.string() }),
  z.object({ type: z.literal('enroll-token.revoked'), tokenId: z.string() }),
  // The closed loop (server/src/control): every stored decision, and alerts when nothing fits.
  z.object({
    type: z.literal('control.decision'),
    decisionId: z.string(),
    deviceClass: z.string(),
    kind: z.string(),
    reason: z.string(),
  }),
  z.object({
    type: z.literal('control.alert'),
    decisionId: z.string(),
    deviceClass: z.string(),
    severity: z.enum(['warning', 'critical']),
    message: z.string(),
  }),
  // Rollouts (server/src/deploy, the rollout service's onEvent hook): started, each wave
  // notified (`devices` = devices told to install), aborted (rollback begins), finished.
  z.object({
    type: z.literal('rollout.started'),
    rolloutId: z.string(),
    deviceClass: z.string(),
    variantId: z.string(),
    devices: z.number().int(),
    waves: z.number().int(),
    /** `class`, `devices` (a cohort) or `catch-up` (late or returning members brought to the class's desired state). */
    origin: z.enum(['class', 'devices', 'catch-up']),
  }),
  z.object({
    type: z.literal('rollout.wave'),
    rolloutId: z.string(),
    wave: z.number().int(),
    devices: z.number().int(),
  }),
  z.object({ type: z.literal('rollout.aborted'), rolloutId: z.string(), reason: z.string() }),
  // Planning through the API (`POST /v1/plans`): the candidate about to be built or read from the
  // cache (`phase` building), then what it came to (`built`, with `result`); recipe '' ends a class.
  z.object({
    type: z.literal('plan.progress'),
    model: z.string(),
    deviceClass: z.string(),
    recipe: z.string(),
    done: z.number().int().nonnegative(),
    total: z.number().int().nonnegative(),
    cached: z.boolean(),
    /** Absent from servers before issue 21: building. */
    phase: z.enum(['building', 'built']).optional(),
    result: planBuiltSummarySchema.optional(),
  }),
  z.object({
    type: z.literal('rollout.finished'),
    rolloutId: z.string(),
    state: z.enum(['in-progress', 'rolling-back', 'completed', 'aborted']),
  }),
]);
export type FleetEvent = z.infer<typeof fleetEventSchema>;
export type FleetEventType = FleetEvent['type'];

/** One event as delivered: a sequence number (the SSE `id`), the server time, the event. */
export const fleetEventEnvelopeSchema = z.object({
  seq: z.number().int().positive(),
  at: serverTimeSchema,
  event: fleetEventSchema,
});
export type FleetEventEnvelope = z.infer<typeof fleetEventEnvelopeSchema>;

/** `GET /v1/events/recent`: the newest fleet events still in the bus's ring, oldest first. */
export const recentEventsSchema = z.object({ events: z.array(fleetEventEnvelopeSchema) });
