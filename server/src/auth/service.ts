import { timingSafeEqual } from 'node:crypto';
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
  /** True when this session had enrolled before: same device, new secret, no use counted. */
  readonly reissued: boolean;
}

export interface AuthService {
  createAdminToken(name: string, scope: TokenScope): Promise<TokenView & { readonly token: string }>;
  listAdminTokens(): Promise<TokenView[]>;
  revokeAdminToken(id: string): Promise<TokenView>;
  /**
   * Checks an `Authorization: Bearer` token (a stored one, or this process's local token); moves its last-used time.
   */
  verifyAdminToken(token: string): Promise<AdminCheck>;

  createEnrollToken(input: {
    deviceClass: string;
    maxUses: number;
    ttlS: number;
  }): Promise<EnrollTokenView & { readonly token: string }>;
  listEnrollTokens(): Promise<EnrollTokenView[]>;
  revokeEnrollToken(id: string): Promise<EnrollTokenView>;
  /** Whether a presented enrollment token may be used now (no use is counted). */
  checkEnrollToken(token: string): Promise<EnrollCheck>;
  /** Whether this enrollment session of a valid (unrevoked, unexpired) token already has its device. */
  enrolledSession(token: string, session: string): Promise<boolean>;
  /**
   * Counts one use and issues a device credential, atomically. With a `session` the agent
   * already enrolled (its reply was lost, its connection kicked), the same device gets a new
   * secret and no use is counted, as long as the token is not revoked or expired.
   */
  enroll(
    token: string,
    requestedDeviceId: string | undefined,
    session?: string,
  ): Promise<EnrollResult | { readonly ok: false; readonly reason: Exclude<EnrollFailure, 'internal'> }>;

  /** Issues (or re-issues) a credential without a token: demos, tests, scripted provisioning. */
  provisionDevice(
    deviceId: string,
    deviceClass: string | null,
  ): Promise<{ readonly deviceId: string; readonly secret: string }>;
  verifyDevice(deviceId: string, secret: string): Promise<DeviceCheck>;
  /** Revokes; throws EF_ERR_DEVICE_NOT_FOUND when the device has no credential. */
  revokeDevice(deviceId: string): Promise<CredentialRow>;
  credential(deviceId: string): Promise<CredentialRow | null>;
  /** Every credential, revoked ones too (the device list shows their status). */
  credentials(): Promise<CredentialRow[]>;
  /**
   * Binds a credential to a class (an admin's change; the first hello of one issued without);
   * false without a credential.
   */
  bindDeviceClass(deviceId: string, deviceClass: string): Promise<boolean>;
  /** Active credentials, for the mosquitto password file. */
  activeCredentials(): Promise<CredentialRow[]>;
  /** Live enrollment tokens (not revoked, not expired, uses left). */
  liveEnrollTokens(): Promise<EnrollTokenRow[]>;
}

export interface AuthServiceOptions {
  readonly repo: AuthRepository;
  readonly now: () => number;
  readonly random?: RandomBytes;
  readonly events?: EventBus;
  /**
   * An admin token that lives only in this process (never stored), accepted with admin scope:
   * the server writes it to its runtime file in the data directory so the CLI on the same
   * host can call the API without a stored token (whoever can read that directory owns the
   * server anyway). Omitted: none.
   */
  readonly localToken?: string;
}

/** Token id under which requests made with the process-local token are logged and rate-limited. */
export const LOCAL_TOKEN_ID = 'local';

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
  const localToken = options.localToken === undefined ? null : Buffer.from(options.localToken, 'utf8');

  async function checkEnrollToken(token: string): Promise<EnrollCheck> {
    const parsed = parseToken('enroll', token);
    const row = parsed ? await repo.getEnrollToken(parsed.id) : null;
    if (!row || !secretMatches(token, row.hash)) return { ok: false, reason: 'invalid-token' };
    if (row.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (row.expiresAt <= now()) return { ok: false, reason: 'expired' };
    if (row.uses >= row.maxUses) return { ok: false, reason: 'exhausted' };
    return { ok: true, token: row };
  }

  const usable = (id: string): boolean => isValidDeviceId(id) && !isReservedDeviceId(id);

  /** The requested id when it is valid and free, else the requested id (or the class) with a random suffix. */
  async function chooseDeviceId(requested: string | undefined, deviceClass: string, attempt: number): Promise<string> {
    if (attempt === 0 && requested && usable(requested) && !(await repo.getCredential(requested))) return requested;
    const stem = (requested && usable(requested) ? requested : deviceClass).slice(0, 50);
    for (;;) {
      const id = `${stem}-${random(3).toString('hex')}`;
      if (usable(id) && !(await repo.getCredential(id))) return id;
    }
  }

  /** The live (unrevoked, unexpired) token row a presented token names, or null. */
  async function liveTokenRow(token: string): Promise<EnrollTokenRow | null> {
    const parsed = parseToken('enroll', token);
    const row = parsed ? await repo.getEnrollToken(parsed.id) : null;
    if (!row || !secretMatches(token, row.hash) || row.revokedAt !== null || row.expiresAt <= now()) return null;
    return row;
  }

  /** The unrevoked credential a session of this token was issued before, or null. */
  async function earlierOfSession(token: string, session: string) {
    const row = await liveTokenRow(token);
    const earlier = row ? await repo.findCredentialBySession(row.id, session) : null;
    return row && earlier && earlier.revokedAt === null ? { row, earlier } : null;
  }

  /**
   * A session that enrolled before gets its device again with a fresh secret (no use counted); null when it did not.
   */
  async function reissue(token: string, session: string): Promise<EnrollResult | null> {
    const found = await earlierOfSession(token, session);
    if (!found) return null;
    const secret = generateSecret(random);
    await repo.putCredential({
      ...found.earlier,
      hash: hashSecret(secret),
      brokerHash: mosquittoPasswordHash(secret, random),
      createdAt: now(),
    });
    const deviceClass = found.earlier.deviceClass ?? found.row.deviceClass;
    return { deviceId: found.earlier.deviceId, deviceClass, secret, enrollTokenId: found.row.id, reissued: true };
  }

  async function enroll(
    token: string,
    requestedDeviceId: string | undefined,
    session?: string,
  ): Promise<EnrollResult | { ok: false; reason: Exclude<EnrollFailure, 'internal'> }> {
    const again = session === undefined ? null : await reissue(token, session);
    if (again) return again;
    const check = await checkEnrollToken(token);
    if (!check.ok) return check;
    const deviceClass = check.token.deviceClass;
    // The id is chosen first and claimed atomically with the token's use; another enrollment
    // can take it in between, and then the next attempt draws a fresh one.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const deviceId = await chooseDeviceId(requestedDeviceId, deviceClass, attempt);
      const secret = generateSecret(random);
      const outcome = await repo.enrollDevice(check.token.id, now(), {
        deviceId,
        deviceClass,
        hash: hashSecret(secret),
        brokerHash: mosquittoPasswordHash(secret, random),
        enrollTokenId: check.token.id,
        createdAt: now(),
        enrollSession: session ?? null,
      });
      if (outcome === 'token-used-up') return { ok: false, reason: 'exhausted' };
      if (outcome === 'device-id-taken') {
        // The same session may have won a race with this request (one credential per session): reissue that one.
        const raced = session === undefined ? null : await reissue(token, session);
        if (raced) return raced;
        continue;
      }
      events?.publish({ type: 'device.enrolled', deviceId, deviceClass, enrollTokenId: check.token.id });
      return { deviceId, deviceClass, secret, enrollTokenId: check.token.id, reissued: false };
    }
    throw new Error('could not find a free device id in 5 attempts');
  }

  function notFound(kind: 'admin' | 'enrollment', id: string): EdgefleetError {
    const list = kind === 'admin' ? 'edgefleet token list' : 'edgefleet enroll-token list';
    return new EdgefleetError('EF_ERR_TOKEN_NOT_FOUND', `no ${kind} token with id ${id}; \`${list}\` shows the ids`, {
      id,
    });
  }

  return {
    async createAdminToken(name, scope) {
      const issued = issueToken('admin', random);
      const createdAt = now();
      await repo.insertAdminToken({ id: issued.id, name, scope, hash: issued.hash, createdAt });
      events?.publish({ type: 'token.created', tokenId: issued.id, scope });
      return { id: issued.id, name, scope, createdAt, lastUsedAt: null, revokedAt: null, token: issued.token };
    },
    listAdminTokens: async () => (await repo.listAdminTokens()).map(tokenView),
    async revokeAdminToken(id) {
      const row = await repo.getAdminToken(id);
      if (!row) throw notFound('admin', id);
      if (await repo.revokeAdminToken(id, now())) events?.publish({ type: 'token.revoked', tokenId: id });
      return tokenView((await repo.getAdminToken(id)) ?? row);
    },
    async verifyAdminToken(token) {
      if (localToken !== null && sameBytes(localToken, token))
        return { ok: true, tokenId: LOCAL_TOKEN_ID, scope: 'admin' };
      const parsed = parseToken('admin', token);
      const row = parsed ? await repo.getAdminToken(parsed.id) : null;
      if (!row || row.revokedAt !== null || !secretMatches(token, row.hash))
        return { ok: false, code: 'EF_ERR_AUTH_INVALID' };
      await repo.touchAdminToken(row.id, now());
      return { ok: true, tokenId: row.id, scope: row.scope };
    },

    async createEnrollToken(input) {
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
      await repo.insertEnrollToken(row);
      events?.publish({ type: 'enroll-token.created', tokenId: issued.id, deviceClass: input.deviceClass });
      return { ...enrollView({ ...row, uses: 0, revokedAt: null }), token: issued.token };
    },
    listEnrollTokens: async () => (await repo.listEnrollTokens()).map(enrollView),
    async revokeEnrollToken(id) {
      const row = await repo.getEnrollToken(id);
      if (!row) throw notFound('enrollment', id);
      if (await repo.revokeEnrollToken(id, now())) events?.publish({ type: 'enroll-token.revoked', tokenId: id });
      return enrollView((await repo.getEnrollToken(id)) ?? row);
    },
    checkEnrollToken,
    enrolledSession: async (token, session) => (await earlierOfSession(token, session)) !== null,
    enroll,

    async provisionDevice(deviceId, deviceClass) {
      if (!usable(deviceId)) throw new TypeError(`cannot provision device id ${JSON.stringify(deviceId)}`);
      const secret = generateSecret(random);
      await repo.putCredential({
        deviceId,
        deviceClass,
        hash: hashSecret(secret),
        brokerHash: mosquittoPasswordHash(secret, random),
        enrollTokenId: null,
        createdAt: now(),
        enrollSession: null,
      });
      return { deviceId, secret };
    },
    bindDeviceClass(deviceId, deviceClass) {
      return repo.setCredentialClass(deviceId, deviceClass);
    },
    async verifyDevice(deviceId, secret) {
      const row = await repo.getCredential(deviceId);
      if (!row) return 'unknown';
      if (row.revokedAt !== null) return 'revoked';
      return secretMatches(secret, row.hash) ? 'ok' : 'bad-secret';
    },
    async revokeDevice(deviceId) {
      const row = await repo.getCredential(deviceId);
      if (!row)
        throw new EdgefleetError(
          'EF_ERR_DEVICE_NOT_FOUND',
          `device ${deviceId} has no credential to revoke; \`edgefleet devices\` lists the devices`,
          { deviceId },
        );
      await repo.revokeCredential(deviceId, now());
      return (await repo.getCredential(deviceId)) ?? row;
    },
    credential: (deviceId) => repo.getCredential(deviceId),
    credentials: () => repo.listCredentials(),
    activeCredentials: async () => (await repo.listCredentials()).filter((c) => c.revokedAt === null),
    liveEnrollTokens: async () =>
      (await repo.listEnrollTokens()).filter((r) => r.revokedAt === null && r.expiresAt > now() && r.uses < r.maxUses),
  };
}

/** Constant-time comparison of the local token with what a request presented. */
function sameBytes(expected: Buffer, presented: string): boolean {
  const got = Buffer.from(presented, 'utf8');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
