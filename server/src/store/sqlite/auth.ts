/** Tokens and device credentials on SQLite (migration 20). */
import { tokenScopeSchema } from '@edgefleet/shared';
import type { AdminTokenRow, AuthRepository, CredentialRow, EnrollTokenRow } from '../auth.js';
import { decodeValue } from '../decode.js';
import type { Db } from './open.js';

export interface AdminTokenDbRow {
  id: string;
  name: string;
  scope: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}
export interface EnrollTokenDbRow {
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
export interface CredentialDbRow {
  device_id: string;
  class: string | null;
  hash: string;
  enroll_token_id: string | null;
  created_at: number;
  revoked_at: number | null;
  broker_hash: string | null;
  enroll_session: string | null;
}

export const adminToken = (r: AdminTokenDbRow): AdminTokenRow => ({
  id: r.id,
  name: r.name,
  scope: decodeValue(tokenScopeSchema, r.scope, { table: 'admin_tokens', column: 'scope', key: r.id }),
  hash: r.hash,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});
export const enrollToken = (r: EnrollTokenDbRow): EnrollTokenRow => ({
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
export const credential = (r: CredentialDbRow): CredentialRow => ({
  deviceId: r.device_id,
  deviceClass: r.class,
  hash: r.hash,
  enrollTokenId: r.enroll_token_id,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  brokerHash: r.broker_hash,
  enrollSession: r.enroll_session,
});

export function createSqliteAuthRepository(db: Db): AuthRepository {
  const s = {
    insertAdmin: db.prepare('INSERT INTO admin_tokens (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)'),
    getAdmin: db.prepare('SELECT * FROM admin_tokens WHERE id = ?'),
    listAdmin: db.prepare('SELECT * FROM admin_tokens ORDER BY created_at, id'),
    touchAdmin: db.prepare(
      'UPDATE admin_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    ),
    revokeAdmin: db.prepare('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertEnroll: db.prepare(`INSERT INTO enroll_tokens (id, class, hash, max_uses, expires_at, created_at, broker_hash)
      VALUES (?, ?, ?, ?, ?, ?, ?)`),
    getEnroll: db.prepare('SELECT * FROM enroll_tokens WHERE id = ?'),
    listEnroll: db.prepare('SELECT * FROM enroll_tokens ORDER BY created_at, id'),
    // One statement, so two agents racing for the last use cannot both get it.
    consumeEnroll: db.prepare(`UPDATE enroll_tokens SET uses = uses + 1
      WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND uses < max_uses`),
    revokeEnroll: db.prepare('UPDATE enroll_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertCredential: db.prepare(`INSERT OR IGNORE INTO device_credentials
      (device_id, class, hash, enroll_token_id, created_at, broker_hash, enroll_session) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    putCredential: db.prepare(`INSERT INTO device_credentials
      (device_id, class, hash, enroll_token_id, created_at, broker_hash, enroll_session) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET class = excluded.class, hash = excluded.hash,
        broker_hash = excluded.broker_hash, enroll_token_id = excluded.enroll_token_id,
        created_at = excluded.created_at, revoked_at = NULL, enroll_session = excluded.enroll_session`),
    getCredential: db.prepare('SELECT * FROM device_credentials WHERE device_id = ?'),
    findCredentialBySession: db.prepare(
      'SELECT * FROM device_credentials WHERE enroll_token_id = ? AND enroll_session = ?',
    ),
    listCredentials: db.prepare('SELECT * FROM device_credentials ORDER BY device_id'),
    revokeCredential: db.prepare(
      'UPDATE device_credentials SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL',
    ),
  };
  const credentialArgs = (row: Omit<CredentialRow, 'revokedAt'>) =>
    [
      row.deviceId,
      row.deviceClass,
      row.hash,
      row.enrollTokenId,
      row.createdAt,
      row.brokerHash,
      row.enrollSession,
    ] as const;
  const enroll = db.transaction((tokenId: string, now: number, row: Omit<CredentialRow, 'revokedAt'>) => {
    if (s.consumeEnroll.run(tokenId, now).changes === 0) return 'token-used-up' as const;
    if (s.insertCredential.run(...credentialArgs(row)).changes === 0) {
      // Throwing rolls the counted use back with the transaction.
      throw new DeviceIdTaken();
    }
    return 'enrolled' as const;
  });
  return Object.freeze({
    insertAdminToken: async (row) => {
      s.insertAdmin.run(row.id, row.name, row.scope, row.hash, row.createdAt);
    },
    getAdminToken: async (id) => {
      const row = s.getAdmin.get(id) as AdminTokenDbRow | undefined;
      return row ? adminToken(row) : null;
    },
    listAdminTokens: async () => (s.listAdmin.all() as AdminTokenDbRow[]).map(adminToken),
    touchAdminToken: async (id, now) => {
      s.touchAdmin.run(now, id, now - 60_000);
    },
    revokeAdminToken: async (id, now) => s.revokeAdmin.run(now, id).changes > 0,
    insertEnrollToken: async (row) => {
      s.insertEnroll.run(row.id, row.deviceClass, row.hash, row.maxUses, row.expiresAt, row.createdAt, row.brokerHash);
    },
    getEnrollToken: async (id) => {
      const row = s.getEnroll.get(id) as EnrollTokenDbRow | undefined;
      return row ? enrollToken(row) : null;
    },
    listEnrollTokens: async () => (s.listEnroll.all() as EnrollTokenDbRow[]).map(enrollToken),
    revokeEnrollToken: async (id, now) => s.revokeEnroll.run(now, id).changes > 0,
    enrollDevice: async (tokenId, now, row) => {
      try {
        return enroll(tokenId, now, row);
      } catch (err: unknown) {
        if (err instanceof DeviceIdTaken) return 'device-id-taken';
        throw err;
      }
    },
    putCredential: async (row) => {
      s.putCredential.run(...credentialArgs(row));
    },
    getCredential: async (deviceId) => {
      const row = s.getCredential.get(deviceId) as CredentialDbRow | undefined;
      return row ? credential(row) : null;
    },
    findCredentialBySession: async (enrollTokenId, session) => {
      const row = s.findCredentialBySession.get(enrollTokenId, session) as CredentialDbRow | undefined;
      return row ? credential(row) : null;
    },
    listCredentials: async () => (s.listCredentials.all() as CredentialDbRow[]).map(credential),
    revokeCredential: async (deviceId, now) => s.revokeCredential.run(now, deviceId).changes > 0,
  } satisfies AuthRepository);
}

/** Signals the enrollment transaction to roll back because the device id already has a credential. */
class DeviceIdTaken extends Error {}
