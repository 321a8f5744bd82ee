import * as z from 'zod';
import { capabilitiesSchema } from '../messages/presence.js';
import { classNameSchema, deviceIdSchema } from '../messages/common.js';
import { serverTimeSchema } from './common.js';

/** Admin token scopes: `read` may call every GET route; `admin` may also change things. */
export const TOKEN_SCOPES = ['read', 'admin'] as const;
export const tokenScopeSchema = z.enum(TOKEN_SCOPES);
export type TokenScope = z.infer<typeof tokenScopeSchema>;

/** A device's MQTT credential, as the API shows it (never the secret or its hash). */
export const credentialViewSchema = z.object({
  status: z.enum(['active', 'revoked', 'none']),
  enrolledAt: serverTimeSchema.nullable(),
  revokedAt: serverTimeSchema.nullable(),
  /** Enrollment token it was issued through, or null (provisioned directly). */
  enrollTokenId: z.string().nullable(),
});

/** `GET /v1/devices/{id}` and the items of `GET /v1/devices`. */
export const deviceViewSchema = z.object({
  id: deviceIdSchema,
  deviceClass: classNameSchema.nullable(),
  state: z.enum(['online', 'offline', 'never-seen']),
  stateReason: z.string().nullable(),
  capabilities: capabilitiesSchema.nullable(),
  agentVersion: z.string().nullable(),
  currentModel: z.string().nullable(),
  firstSeen: serverTimeSchema.nullable(),
  lastSeen: serverTimeSchema.nullable(),
  credential: credentialViewSchema,
});
export type DeviceView = z.infer<typeof deviceViewSchema>;

export const deviceListQuerySchema = z.strictObject({
  class: classNameSchema.optional(),
  state: z.enum(['online', 'offline', 'never-seen']).optional(),
});
export const deviceListSchema = z.object({ devices: z.array(deviceViewSchema) });

/** `PATCH /v1/devices/{id}` body: an admin moves a device to another class (a `hello` cannot). */
export const deviceUpdateSchema = z.strictObject({ deviceClass: classNameSchema });

/** `POST /v1/devices/{id}/revoke` answer. */
export const deviceRevokedSchema = z.object({
  id: deviceIdSchema,
  revokedAt: serverTimeSchema,
  /** True when the device was connected to the embedded broker and has been cut off. */
  disconnected: z.boolean(),
});

export const tokenCreateSchema = z.strictObject({
  name: z.string().min(1).max(100),
  scope: tokenScopeSchema,
});
export const tokenViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  scope: tokenScopeSchema,
  createdAt: serverTimeSchema,
  lastUsedAt: serverTimeSchema.nullable(),
  revokedAt: serverTimeSchema.nullable(),
});
export type TokenView = z.infer<typeof tokenViewSchema>;
/** Returned once, on creation: the only time the token itself is shown. */
export const tokenCreatedSchema = tokenViewSchema.extend({ token: z.string() });
export const tokenListSchema = z.object({ tokens: z.array(tokenViewSchema) });

/** Longest enrollment token lifetime: one year. */
export const MAX_ENROLL_TTL_S = 365 * 24 * 3600;

export const enrollTokenCreateSchema = z.strictObject({
  deviceClass: classNameSchema,
  /** How many devices may enroll with it. Default 1. */
  maxUses: z.number().int().min(1).max(100_000).default(1),
  /** Lifetime in seconds. Default 86400 (one day). */
  ttlS: z.number().int().min(60).max(MAX_ENROLL_TTL_S).default(86_400),
});
export const enrollTokenViewSchema = z.object({
  id: z.string(),
  deviceClass: classNameSchema,
  maxUses: z.number().int(),
  uses: z.number().int(),
  expiresAt: serverTimeSchema,
  createdAt: serverTimeSchema,
  revokedAt: serverTimeSchema.nullable(),
});
export type EnrollTokenView = z.infer<typeof enrollTokenViewSchema>;
export const enrollTokenCreatedSchema = enrollTokenViewSchema.extend({ token: z.string() });
export const enrollTokenListSchema = z.object({ enrollTokens: z.array(enrollTokenViewSchema) });

/**
 * `GET /v1/broker/mosquitto-credentials`: what an external mosquitto needs (`$7$` PBKDF2-SHA512
 * hashes of the server, every active device and every live enrollment token), for a password
 * file or the dynamic security plugin's file (`edgefleet broker-config mosquitto` writes either).
 */
const brokerHashSchema = z.string().startsWith('$7$');
export const mosquittoCredentialsSchema = z.object({
  serverHash: brokerHashSchema,
  devices: z.array(z.object({ deviceId: z.string(), brokerHash: brokerHashSchema })),
  enrollTokens: z.array(z.object({ tokenId: z.string(), brokerHash: brokerHashSchema })),
  /** Devices enrolled before mosquitto hashes were kept: enroll these again. */
  skipped: z.array(z.string()),
  /** The server's payload limit; mosquitto's packet limit is derived from it. */
  maxPayloadBytes: z.number().int().positive(),
});
export type MosquittoCredentials = z.infer<typeof mosquittoCredentialsSchema>;

/**
 * `GET /v1/whoami`: who the bearer token is, so a client (the console) can hide what its scope
 * may not do. `auth: open` when the server runs with `auth.enabled: false` (every route open).
 */
export const whoamiSchema = z.object({
  auth: z.enum(['token', 'open']),
  tokenId: z.string().nullable(),
  name: z.string().nullable(),
  scope: tokenScopeSchema,
});
export type Whoami = z.infer<typeof whoamiSchema>;
