import * as z from 'zod';
import { ENROLL_PUBLIC_KEY_PATTERN } from '../enroll-seal.js';
import { ENROLL_ID_PATTERN, ENROLL_SESSION_PATTERN } from '../topics.js';
import { classNameSchema, deviceIdSchema, epochMsSchema, header } from './common.js';

/** Enrollment token as handed to an agent: `efe_` + 12 hex (id) + `_` + 43 base64url (secret). */
export const ENROLL_TOKEN_PATTERN = /^efe_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;

export const enrollIdSchema = z
  .string()
  .regex(ENROLL_ID_PATTERN, 'enroll id: enroll- followed by 8–32 lowercase hex digits');

export const enrollSessionSchema = z.string().regex(ENROLL_SESSION_PATTERN, 'enroll session: 16 lowercase hex digits');

/**
 * Agent → server on `ef/v1/enroll/{enrollId}/{session}/request`, QoS 1 [EF-PROTO 7.2].
 * Carries the enrollment token because with an external broker the server never sees the
 * CONNECT password; the broker's ACL lets nobody but the server read this topic. Asking
 * again with the same session (a lost reply, a kicked connection) returns the same device
 * with a fresh secret and counts no second use of the token.
 */
export const enrollRequestSchema = z.strictObject({
  ...header('enroll-request'),
  enrollId: enrollIdSchema,
  session: enrollSessionSchema,
  /** The agent's X25519 public key for this enrollment (base64url, raw 32 ' +
    'bytes); the reply's secret is sealed to it. */
  publicKey: z.string().regex(ENROLL_PUBLIC_KEY_PATTERN, 'publicKey: base64url of a raw 32-byte X25519 key'),
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
  session: enrollSessionSchema,
  ok: z.literal(true),
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  /**
   * The device's MQTT password (43 base64url characters), sealed to the request's public key
   * with `<enrollId>/<session>/<deviceId>` as context (`shared/src/enroll-seal.ts`). Sent once;
   * the server keeps only its hashes.
   */
  sealedSecret: z.string().regex(/^[A-Za-z0-9_-]{100,400}$/),
  /** Public keys deployment manifests are signed with (base64 of raw Ed25519 keys); empty until the server has one. */
  signingKeys: z.array(z.string().max(512)).max(16),
  sentAt: epochMsSchema,
});

const enrollRefusedSchema = z.strictObject({
  ...header('enroll-reply'),
  enrollId: enrollIdSchema,
  session: enrollSessionSchema,
  ok: z.literal(false),
  reason: z.enum(ENROLL_FAILURES),
  message: z.string().max(500),
  sentAt: epochMsSchema,
});

/** Server → agent on `ef/v1/enroll/{enrollId}/{session}/reply`, QoS 1, never retained [EF-PROTO 7]. */
export const enrollReplySchema = z.discriminatedUnion('ok', [enrollAcceptedSchema, enrollRefusedSchema]);
export type EnrollReply = z.infer<typeof enrollReplySchema>;
export type EnrollAccepted = z.infer<typeof enrollAcceptedSchema>;

/** What the secret of an accepted enrollment is sealed to: `<enrollId>/<session>/<deviceId>`. */
export function enrollSealContext(enrollId: string, session: string, deviceId: string): string {
  return `${enrollId}/${session}/${deviceId}`;
}
