import {
  EdgefleetError,
  isValidDeviceId,
  MAX_ENROLL_TTL_S,
  type EnrollFailure,
  type EnrollTokenView,
  type TokenScope,
  type TokenView,
} from '@edgefleet/shared';
import type { EventBus } from '../events/bus.js';
import type { AuthRepository, CredentialRow, EnrollTokenRow } from '../store/auth.js';
import { mosquittoPasswordHash } from './mosquitto.js';
import {
  generateSecret,
  hashSecret,
  issueToken,
  parseToken,
  secretMatches,
  systemRandomBytes,
  type RandomBytes,
} from './secrets.js';

/** MQTT user name of the server's own (privileged) client. Never a device id. */
export const SERVER_USERNAME = 'edgefleet-server';

/** Device ids the server never issues: its own user name and the enrollment client prefix. */
export function isReservedDeviceId(id: string): boolean {
  return id === SERVER_USERNAME || id.startsWith('enroll-');
}

export type AdminCheck =
  | { readonly ok: true; readonly tokenId: string; readonly scope: TokenScope }
  | { readonly ok: false; readonly code: 'EF_ERR_AUTH_INVALID' };

export type DeviceCheck = 'ok' | 'unknown' | 'revoked' | 'bad-secret';

export type EnrollCheck =
  | { readonly ok: true; readonly token: EnrollTokenRow }
  | { readonly ok: false; readonly reason: Exclude<EnrollFailure, 'internal'> };

export interface EnrollResult {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly secret: string;
  readonly enrollTokenId: string;
}

export interface AuthService {
  createAdminToken(name: string, scope: TokenScope): TokenView & { readonly token: string };
  listAdminTokens(): TokenView[];
  revokeAdminToken(id: string): TokenView;
  /** Checks an `Authorization: Bearer` token; moves its last-used time. */
  verifyAdminToken(token: string): AdminCheck;

  createEnrollToken(input: {
    deviceClass: string;
    maxUses: number;
    ttlS: number;
  }): EnrollTokenView & { readonly token: string };
  listEnrollTokens(): EnrollTokenView[];
  revokeEnrollToken(id: string): EnrollTokenView;
  /** Whether a presented enrollment token may be used now (no use is counted). */
  checkEnrollToken(token: string): EnrollCheck;
  /** Counts one use and issues a device credential, in one transaction. */
  enroll(
    token: string,
    requestedDeviceId: string | undefined,
  ): EnrollResult | { readonly ok: false; readonly reason: Exclude<EnrollFailure, 'internal'> };

  /** Issues (or re-issues) a credential without a token: demos, tests, scripted provisioning. */
  provisionDevice(deviceId: string, deviceClass: string | null): { readonly deviceId: string; readonly secret: string };
  verifyDevice(deviceId: string, secret: string): DeviceCheck;
  /** Revokes; throws EF_ERR_DEVICE_NOT_FOUND when the device has no credential. */
  revokeDevice(deviceId: string): CredentialRow;
  credential(deviceId: string): CredentialRow | null;
  /** Binds a credential to a class (an admin's change; the first hello of one issued without); false without a credential. */
  bindDeviceClass(deviceId: string, deviceClass: string): boolean;
  /** Active credentials, for the mosquitto password file. */
  activeCredentials(): CredentialRow[];
  /** Live enrollment tokens (not revoked, not expired, uses left). */
  liveEnrollTokens(): EnrollTokenRow[];
}

export interface AuthServiceOptions {
  readonly repo: AuthRepository;
  readonly now: () => number;
  readonly random?: RandomBytes;
  readonly events?: EventBus;
}

function tokenView(row: {
  id: string;
  name: string;
  scope: TokenScope;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}): TokenView {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

function enrollView(row: Omit<EnrollTokenRow, 'hash' | 'brokerHash'>): EnrollTokenView {
  return {
    id: row.id,
    deviceClass: row.deviceClass,
    maxUses: row.maxUses,
    uses: row.uses,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
  };
}

/**
 * Identity and access: admin tokens, enrollment tokens and device credentials, stored as
 * sha256 hashes only. Pure over the repository and injected clock/randomness; the API and
 * the broker's access control call it.
 */
export function createAuthService(options: AuthServiceOptions): AuthService {
  const { repo, now, events } = options;
  const random = options.random ?? systemRandomBytes;

  function checkEnrollToken(token: string): EnrollCheck {
    const parsed = parseToken('enroll', token);
    const row = parsed ? repo.getEnrollToken(parsed.id) : null;
    if (!row || !secretMatches(token, row.hash)) return { ok: false, reason: 'invalid-token' };
    if (row.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (row.expiresAt <= now()) return { ok: false, reason: 'expired' };
    if (row.uses >= row.maxUses) return { ok: false, reason: 'exhausted' };
    return { ok: true, token: row };
  }

  /** The requested id when it is valid, free (or this token's earlier device) and not reserved; else a fresh one. */
  function chooseDeviceId(requested: string | undefined, deviceClass: string): string {
    if (requested && isValidDeviceId(requested) && !isReservedDeviceId(requested) && !repo.getCredential(requested))
      return requested;
    const stem = (
      requested && isValidDeviceId(requested) && !isReservedDeviceId(requested) ? requested : deviceClass
    ).slice(0, 50);
    for (;;) {
      const id = `${stem}-${random(3).toString('hex')}`;
      if (!repo.getCredential(id) && !isReservedDeviceId(id)) return id;
    }
  }

  return {
    createAdminToken(name, scope) {
      const issued = issueToken('admin', random);
      const createdAt = now();
      repo.insertAdminToken({ id: issued.id, name, scope, hash: issued.hash, createdAt });
      events?.publish({ type: 'token.created', tokenId: issued.id, scope });
      return { id: issued.id, name, scope, createdAt, lastUsedAt: null, revokedAt: null, token: issued.token };
    },
    listAdminTokens: () => repo.listAdminTokens().map(tokenView),
    revokeAdminToken(id) {
      const row = repo.getAdminToken(id);
      if (!row)
        throw new EdgefleetError(
          'EF_ERR_TOKEN_NOT_FOUND',
          `no admin token with id ${id}; \`edgefleet token list\` shows the ids`,
          { id },
        );
      if (repo.revokeAdminToken(id, now())) events?.publish({ type: 'token.revoked', tokenId: id });
      return tokenView(repo.getAdminToken(id) ?? row);
    },
    verifyAdminToken(token) {
      const parsed = parseToken('admin', token);
      const row = parsed ? repo.getAdminToken(parsed.id) : null;
      if (!row || row.revokedAt !== null || !secretMatches(token, row.hash))
        return { ok: false, code: 'EF_ERR_AUTH_INVALID' };
      repo.touchAdminToken(row.id, now());
      return { ok: true, tokenId: row.id, scope: row.scope };
    },

    createEnrollToken(input) {
      if (!isValidDeviceId(input.deviceClass))
        throw new EdgefleetError('EF_ERR_API_VALIDATION', `invalid class name ${JSON.stringify(input.deviceClass)}`, {
          field: 'deviceClass',
        });
      if (!(input.ttlS >= 60 && input.ttlS <= MAX_ENROLL_TTL_S))
        throw new EdgefleetError('EF_ERR_API_VALIDATION', `ttl must be 60 s to one year, got ${input.ttlS} s`, {
          field: 'ttlS',
        });
      if (!(Number.isInteger(input.maxUses) && input.maxUses >= 1))
        throw new EdgefleetError('EF_ERR_API_VALIDATION', `maxUses must be a whole number >= 1, got ${input.maxUses}`, {
          field: 'maxUses',
        });
      const issued = issueToken('enroll', random);
      const createdAt = now();
      const row = {
        id: issued.id,
        deviceClass: input.deviceClass,
        hash: issued.hash,
        maxUses: input.maxUses,
        expiresAt: createdAt + input.ttlS * 1000,
        createdAt,
        brokerHash: mosquittoPasswordHash(issued.token, random),
      };
      repo.insertEnrollToken(row);
      events?.publish({ type: 'enroll-token.created', tokenId: issued.id, deviceClass: input.deviceClass });
      return { ...enrollView({ ...row, uses: 0, revokedAt: null }), token: issued.token };
    },
    listEnrollTokens: () => repo.listEnrollTokens().map(enrollView),
    revokeEnrollToken(id) {
      const row = repo.getEnrollToken(id);
      if (!row)
        throw new EdgefleetError(
          'EF_ERR_TOKEN_NOT_FOUND',
          `no enrollment token with id ${id}; \`edgefleet enroll-token list\` shows the ids`,
          { id },
        );
      if (repo.revokeEnrollToken(id, now())) events?.publish({ type: 'enroll-token.revoked', tokenId: id });
      return enrollView(repo.getEnrollToken(id) ?? row);
    },
    checkEnrollToken,
    enroll(token, requestedDeviceId) {
      const result = repo.transaction((): EnrollResult | { ok: false; reason: Exclude<EnrollFailure, 'internal'> } => {
        const check = checkEnrollToken(token);
        if (!check.ok) return check;
        if (!repo.consumeEnrollToken(check.token.id, now())) return { ok: false, reason: 'exhausted' };
        const deviceClass = check.token.deviceClass;
        const deviceId = chooseDeviceId(requestedDeviceId, deviceClass);
        const secret = generateSecret(random);
        repo.putCredential({
          deviceId,
          deviceClass,
          hash: hashSecret(secret),
          brokerHash: mosquittoPasswordHash(secret, random),
          enrollTokenId: check.token.id,
          createdAt: now(),
        });
        return { deviceId, deviceClass, secret, enrollTokenId: check.token.id };
      });
      if ('deviceId' in result)
        events?.publish({
          type: 'device.enrolled',
          deviceId: result.deviceId,
          deviceClass: result.deviceClass,
          enrollTokenId: result.enrollTokenId,
        });
      return result;
    },

    provisionDevice(deviceId, deviceClass) {
      if (!isValidDeviceId(deviceId) || isReservedDeviceId(deviceId))
        throw new TypeError(`cannot provision device id ${JSON.stringify(deviceId)}`);
      const secret = generateSecret(random);
      repo.putCredential({
        deviceId,
        deviceClass,
        hash: hashSecret(secret),
        brokerHash: mosquittoPasswordHash(secret, random),
        enrollTokenId: null,
        createdAt: now(),
      });
      return { deviceId, secret };
    },
    bindDeviceClass(deviceId, deviceClass) {
      return repo.setCredentialClass(deviceId, deviceClass);
    },
    verifyDevice(deviceId, secret) {
      const row = repo.getCredential(deviceId);
      if (!row) return 'unknown';
      if (row.revokedAt !== null) return 'revoked';
      return secretMatches(secret, row.hash) ? 'ok' : 'bad-secret';
    },
    revokeDevice(deviceId) {
      const row = repo.getCredential(deviceId);
      if (!row)
        throw new EdgefleetError(
          'EF_ERR_DEVICE_NOT_FOUND',
          `device ${deviceId} has no credential to revoke; \`edgefleet devices\` lists the devices`,
          { deviceId },
        );
      repo.revokeCredential(deviceId, now());
      return repo.getCredential(deviceId) ?? row;
    },
    credential: (deviceId) => repo.getCredential(deviceId),
    activeCredentials: () => repo.listCredentials().filter((c) => c.revokedAt === null),
    liveEnrollTokens: () =>
      repo.listEnrollTokens().filter((r) => r.revokedAt === null && r.expiresAt > now() && r.uses < r.maxUses),
  };
}
