import type { TokenScope } from '@edgefleet/shared';
import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/** An admin token row; `hash` is sha256 hex of the whole token. */
export interface AdminTokenRow {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
  readonly hash: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

export interface EnrollTokenRow {
  readonly id: string;
  readonly deviceClass: string;
  readonly hash: string;
  readonly maxUses: number;
  readonly uses: number;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  /** mosquitto `$7$` hash of the token, for an external broker's password file. */
  readonly brokerHash: string | null;
}

export interface CredentialRow {
  readonly deviceId: string;
  readonly deviceClass: string | null;
  readonly hash: string;
  readonly enrollTokenId: string | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  /** mosquitto `$7$` hash of the secret, for an external broker's password file. */
  readonly brokerHash: string | null;
}

/** Tables of the auth area (migration 20). Hashes in, hashes out: no secret ever reaches SQLite. */
export interface AuthRepository {
  insertAdminToken(row: Omit<AdminTokenRow, 'lastUsedAt' | 'revokedAt'>): void;
  getAdminToken(id: string): AdminTokenRow | null;
  listAdminTokens(): AdminTokenRow[];
  /** Sets last-used at most once a minute per token, so reads do not turn into a write each. */
  touchAdminToken(id: string, now: number): void;
  /** Returns false when there is no such token or it was already revoked. */
  revokeAdminToken(id: string, now: number): boolean;

  insertEnrollToken(row: Omit<EnrollTokenRow, 'uses' | 'revokedAt'>): void;
  getEnrollToken(id: string): EnrollTokenRow | null;
  listEnrollTokens(): EnrollTokenRow[];
  /** Counts one use if the token is live (not revoked, not expired, uses left); false otherwise. */
  consumeEnrollToken(id: string, now: number): boolean;
  revokeEnrollToken(id: string, now: number): boolean;

  /** Creates or replaces (re-enrollment) a device credential; clears any revocation. */
  putCredential(row: Omit<CredentialRow, 'revokedAt'>): void;
  getCredential(deviceId: string): CredentialRow | null;
  listCredentials(): CredentialRow[];
  revokeCredential(deviceId: string, now: number): boolean;
  /** Binds a credential to a class (an admin's change, or the first hello of one issued without); false when there is none. */
  setCredentialClass(deviceId: string, deviceClass: string): boolean;

  /** Runs `fn` in one SQLite transaction (e.g. consume a token and create a credential). */
  transaction<T>(fn: () => T): T;
}

interface AdminTokenDbRow {
  id: string;
  name: string;
  scope: TokenScope;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}
interface EnrollTokenDbRow {
  id: string;
  class: string;
  hash: string;
  max_uses: number;
  uses: number;
  expires_at: number;
  created_at: number;
  revoked_at: number | null;
  broker_hash: string | null;
}
interface CredentialDbRow {
  device_id: string;
  class: string | null;
  hash: string;
  enroll_token_id: string | null;
  created_at: number;
  revoked_at: number | null;
  broker_hash: string | null;
}

const adminToken = (r: AdminTokenDbRow): AdminTokenRow => ({
  id: r.id,
  name: r.name,
  scope: r.scope,
  hash: r.hash,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});
const enrollToken = (r: EnrollTokenDbRow): EnrollTokenRow => ({
  id: r.id,
  deviceClass: r.class,
  hash: r.hash,
  maxUses: r.max_uses,
  uses: r.uses,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  brokerHash: r.broker_hash,
});
const credential = (r: CredentialDbRow): CredentialRow => ({
  deviceId: r.device_id,
  deviceClass: r.class,
  hash: r.hash,
  enrollTokenId: r.enroll_token_id,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  brokerHash: r.broker_hash,
});

/** Auth queries over the store's connection. */
export function createAuthRepository(db: Db): AuthRepository {
  const prepared = new Map<string, Database.Statement<unknown[]>>();
  // Prepared lazily: write statements cannot be prepared on a read-only connection.
  const q = (sql: string) => {
    let stmt = prepared.get(sql);
    if (!stmt) {
      stmt = db.prepare<unknown[]>(sql);
      prepared.set(sql, stmt);
    }
    return stmt;
  };
  const repo: AuthRepository = {
    insertAdminToken(row) {
      q('INSERT INTO admin_tokens (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)').run(
        row.id,
        row.name,
        row.scope,
        row.hash,
        row.createdAt,
      );
    },
    getAdminToken(id) {
      const row = q('SELECT * FROM admin_tokens WHERE id = ?').get(id) as AdminTokenDbRow | undefined;
      return row ? adminToken(row) : null;
    },
    listAdminTokens() {
      return (q('SELECT * FROM admin_tokens ORDER BY created_at, id').all() as AdminTokenDbRow[]).map(adminToken);
    },
    touchAdminToken(id, now) {
      q('UPDATE admin_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)').run(
        now,
        id,
        now - 60_000,
      );
    },
    revokeAdminToken(id, now) {
      return q('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0;
    },
    insertEnrollToken(row) {
      q(
        'INSERT INTO enroll_tokens (id, class, hash, max_uses, expires_at, created_at, broker_hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run(row.id, row.deviceClass, row.hash, row.maxUses, row.expiresAt, row.createdAt, row.brokerHash);
    },
    getEnrollToken(id) {
      const row = q('SELECT * FROM enroll_tokens WHERE id = ?').get(id) as EnrollTokenDbRow | undefined;
      return row ? enrollToken(row) : null;
    },
    listEnrollTokens() {
      return (q('SELECT * FROM enroll_tokens ORDER BY created_at, id').all() as EnrollTokenDbRow[]).map(enrollToken);
    },
    consumeEnrollToken(id, now) {
      // One statement, so two agents racing for the last use cannot both get it.
      return (
        q(
          'UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND uses < max_uses',
        ).run(id, now).changes > 0
      );
    },
    revokeEnrollToken(id, now) {
      return q('UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes > 0;
    },
    putCredential(row) {
      q(`INSERT INTO device_credentials (device_id, class, hash, enroll_token_id, created_at, broker_hash) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET class = excluded.class, hash = excluded.hash, broker_hash = excluded.broker_hash,
           enroll_token_id = excluded.enroll_token_id, created_at = excluded.created_at, revoked_at = NULL`).run(
        row.deviceId,
        row.deviceClass,
        row.hash,
        row.enrollTokenId,
        row.createdAt,
        row.brokerHash,
      );
    },
    getCredential(deviceId) {
      const row = q('SELECT * FROM device_credentials WHERE device_id = ?').get(deviceId) as
        | CredentialDbRow
        | undefined;
      return row ? credential(row) : null;
    },
    listCredentials() {
      return (q('SELECT * FROM device_credentials ORDER BY device_id').all() as CredentialDbRow[]).map(credential);
    },
    revokeCredential(deviceId, now) {
      return (
        q('UPDATE device_credentials SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL').run(now, deviceId)
          .changes > 0
      );
    },
    setCredentialClass(deviceId, deviceClass) {
      return q('UPDATE device_credentials SET class = ? WHERE device_id = ?').run(deviceClass, deviceId).changes > 0;
    },
    transaction<T>(fn: () => T): T {
      return db.transaction(fn)();
    },
  };
  return Object.freeze(repo);
}
