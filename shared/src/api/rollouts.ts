import * as z from 'zod';
import { classNameSchema, deviceIdSchema, sha256HexSchema } from '../messages/common.js';
import { deployIdSchema, goldenSetSchema, manifestBudgetsSchema } from '../messages/deploy.js';
import { serverTimeSchema } from './common.js';

const ROLLOUT_STATES = ['in-progress', 'rolling-back', 'completed', 'aborted'] as const;
const ROLLOUT_DEVICE_STATES = [
  'pending',
  'notified',
  'in-progress',
  'succeeded',
  'failed',
  'timed-out',
  'rolling-back',
  'rolled-back',
  'cancelled',
] as const;

/**
 * `POST /v1/rollouts`: roll a stored artifact (a planner variant, by sha256 or a unique prefix)
 * out to a class in waves. `policy` takes the deployer's rollout policy (canary, baseCount,
 * growthFactor, abort, deviceTimeoutMs, rolloutTimeoutMs; README "Rollouts"); every field
 * has a default and the server checks it. Without `golden`, the class's latest rollout's golden
 * set is reused (refused when the class never had a rollout).
 */
export const rolloutStartSchema = z.strictObject({
  deviceClass: classNameSchema,
  variant: z.string().regex(/^[0-9a-f]{8,64}$/, 'variant: the artifact sha256 or a prefix of 8+ hex digits'),
  /** Default: the golden set of the class's latest rollout, as the control loop reuses it. */
  golden: goldenSetSchema.optional(),
  policy: z.record(z.string(), z.unknown()).default({}),
  /** Name of the variant in statuses and histories (e.g. `v-int8-static-3e80facc`). Default `v-<sha prefix>`. */
  variantId: deployIdSchema.optional(),
  /** Only these devices of the class (a cohort). Default: every device of the class. */
  deviceIds: z.array(deviceIdSchema).min(1).max(100_000).optional(),
});

export const rolloutAbortSchema = z.strictObject({
  reason: z.string().min(1).max(500).default('aborted through the admin API'),
});

export const rolloutListQuerySchema = z.strictObject({
  class: classNameSchema.optional(),
  /** `true`: only rollouts in progress or rolling back. */
  active: z.enum(['true', 'false']).optional(),
});

export const rolloutRecordSchema = z.object({
  id: z.string(),
  deviceClass: z.string(),
  variantId: z.string(),
  artifactSha: sha256HexSchema,
  budgets: manifestBudgetsSchema.nullable().optional(),
  policy: z.record(z.string(), z.unknown()),
  state: z.enum(ROLLOUT_STATES),
  currentWave: z.number().int(),
  waveCount: z.number().int(),
  reason: z.string().nullable(),
  createdAt: serverTimeSchema,
  updatedAt: serverTimeSchema,
  finishedAt: serverTimeSchema.nullable(),
  /**
   * Why the rollout exists: `class` (every member; its completion sets the class's desired
   * state), `devices` (chosen devices, e.g. a throttled cohort), or `catch-up` (members that
   * joined or came back after the class's rollout, brought to its variant automatically).
   */
  origin: z
    .union([
      z.object({ kind: z.enum(['class', 'devices']) }),
      z.object({ kind: z.literal('catch-up'), sourceRolloutId: z.string(), reason: z.string() }),
    ])
    .optional(),
});

export const rolloutDeviceSchema = z.object({
  deviceId: z.string(),
  wave: z.number().int(),
  state: z.enum(ROLLOUT_DEVICE_STATES),
  deploymentId: z.string(),
  previous: z.object({ variantId: z.string(), sha256: z.string(), rolloutId: z.string().nullable() }).nullable(),
  rollbackId: z.string().nullable(),
  agentState: z.string().nullable(),
  failure: z.object({ step: z.string(), reason: z.string(), detail: z.string() }).nullable(),
  notifiedAt: serverTimeSchema.nullable(),
  finishedAt: serverTimeSchema.nullable(),
  updatedAt: serverTimeSchema,
});

/** A rollout with per-wave counts by device state, and every device's state (no golden set: it can be large). */
export const rolloutStatusSchema = z.object({
  rollout: rolloutRecordSchema,
  waves: z.array(
    z.object({
      index: z.number().int(),
      size: z.number().int(),
      counts: z.record(z.enum(ROLLOUT_DEVICE_STATES), z.number().int()),
    }),
  ),
  devices: z.array(rolloutDeviceSchema),
  outcome: z.record(z.string(), z.number()),
});
export type RolloutStatusView = z.infer<typeof rolloutStatusSchema>;
export const rolloutListSchema = z.object({ rollouts: z.array(rolloutRecordSchema) });

/** One rollout (or rollback) a device took part in, as `GET /v1/devices/{id}/deployments` lists it. */
export const deviceDeploymentSchema = z.object({
  rolloutId: z.string(),
  deviceClass: z.string(),
  variantId: z.string(),
  artifactSha: sha256HexSchema,
  rolloutState: z.enum(ROLLOUT_STATES),
  /** The rollout's reason (why it aborted), or null. */
  rolloutReason: z.string().nullable(),
  wave: z.number().int(),
  state: z.enum(ROLLOUT_DEVICE_STATES),
  /** The variant the device ran before this rollout (its rollback target), or null. */
  previousVariantId: z.string().nullable(),
  failure: z.object({ step: z.string(), reason: z.string(), detail: z.string() }).nullable(),
  startedAt: serverTimeSchema,
  notifiedAt: serverTimeSchema.nullable(),
  finishedAt: serverTimeSchema.nullable(),
});
export type DeviceDeploymentView = z.infer<typeof deviceDeploymentSchema>;

/** `GET /v1/devices/{id}/deployments`: the device's model history, newest first. */
export const deviceDeploymentsSchema = z.object({
  deviceId: z.string(),
  deployments: z.array(deviceDeploymentSchema),
});
