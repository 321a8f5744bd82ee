import { z } from 'zod';
import { ENROLL_ID_PATTERN } from '../topics.js';
import { classNameSchema, deviceIdSchema, epochMsSchema, header } from './common.js';

/** Enrollment token as handed to an agent: `efe_` + 12 hex (id) + `_` + 43 base64url (secret). */
export const ENROLL_TOKEN_PATTERN = /^efe_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

export const enrollIdSchema = z
  .string()
  .regex(ENROLL_ID_PATTERN, 'enroll id: enroll- followed by 8–32 lowercase hex digits');

/**
 * Agent → server on `ef/v1/enroll/{enrollId}/request`, QoS 1 [EF-PROTO 7]. Carries the
 * enrollment token because with an external broker the server never sees the CONNECT
 * password; the broker's ACL lets nobody but the server read this topic.
 */
export const enrollRequestSchema = z.strictObject({
  ...header('enroll-request'),
  enrollId: enrollIdSchema,
  token: z
    .string()
    .regex(
      ENROLL_TOKEN_PATTERN,
      'enrollment token: efe_<12 hex>_<43 base64url>, as `edgefleet enroll-token create` prints it',
    ),
  /** Device id the agent would like (e.g. its host name); the server uses it if free, else assigns one. */
  requestedDeviceId: deviceIdSchema.optional(),
  agentVersion: z.string().max(64),
  sentAt: epochMsSchema,
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

/** Why an enrollment was refused. */
export const ENROLL_FAILURES = ['invalid-token', 'expired', 'exhausted', 'revoked', 'internal'] as const;
export type EnrollFailure = (typeof ENROLL_FAILURES)[number];

const enrollAcceptedSchema = z.strictObject({
  ...header('enroll-reply'),
  enrollId: enrollIdSchema,
  ok: z.literal(true),
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  /** The device's MQTT password (base64url, 43 chars). Shown once; the server keeps only its hash. */
  secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  /** Public keys deployment manifests are signed with (base64 of raw Ed25519 keys); empty until the server has one. */
  signingKeys: z.array(z.string().max(512)).max(16),
  sentAt: epochMsSchema,
});

const enrollRefusedSchema = z.strictObject({
  ...header('enroll-reply'),
  enrollId: enrollIdSchema,
  ok: z.literal(false),
  reason: z.enum(ENROLL_FAILURES),
  message: z.string().max(500),
  sentAt: epochMsSchema,
});

/** Server → agent on `ef/v1/enroll/{enrollId}/reply`, QoS 1, never retained [EF-PROTO 7]. */
export const enrollReplySchema = z.discriminatedUnion('ok', [enrollAcceptedSchema, enrollRefusedSchema]);
export type EnrollReply = z.infer<typeof enrollReplySchema>;
export type EnrollAccepted = z.infer<typeof enrollAcceptedSchema>;
