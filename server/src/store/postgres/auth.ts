/** Tokens and device credentials on Postgres (migrations 20–22); rows map as on SQLite. */
import type { AuthRepository, CredentialRow } from '../auth.js';
import {
  type AdminTokenDbRow,
  adminToken,
  type CredentialDbRow,
  credential,
  type EnrollTokenDbRow,
  enrollToken,
} from '../sqlite/auth.js';
import type { PgDb } from './db.js';

const CREDENTIAL_COLUMNS = '(device_id, class, hash, enroll_token_id, created_at, broker_hash, enroll_session)';
const credentialArgs = (row: Omit<CredentialRow, 'revokedAt'>) => [
  row.deviceId,
  row.deviceClass,
  row.hash,
  row.enrollTokenId,
  row.createdAt,
  row.brokerHash,
  row.enrollSession,
];

/** Signals the enrollment transaction to roll back because the device id already has a credential. */
class DeviceIdTaken extends Error {}

export function createPgAuthRepository(db: PgDb): AuthRepository {
  return Object.freeze({
    insertAdminToken: async (row) => {
      await db.run('INSERT INTO admin_tokens (id, name, scope, hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
        row.id,
        row.name,
        row.scope,
        row.hash,
        row.createdAt,
      ]);
    },
    getAdminToken: async (id) => {
      const row = await db.one<AdminTokenDbRow>('SELECT * FROM admin_tokens WHERE id = $1', [id]);
      return row ? adminToken(row) : null;
    },
    listAdminTokens: async () =>
      (await db.rows<AdminTokenDbRow>('SELECT * FROM admin_tokens ORDER BY created_at, id')).map(adminToken),
    touchAdminToken: async (id, now) => {
      await db.run(
        'UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)',
        [now, id, now - 60_000],
      );
    },
    revokeAdminToken: async (id, now) =>
      (await db.run('UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])) > 0,
    insertEnrollToken: async (row) => {
      await db.run(
        `INSERT INTO enroll_tokens (id, class, hash, max_uses, expires_at, created_at, broker_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [row.id, row.deviceClass, row.hash, row.maxUses, row.expiresAt, row.createdAt, row.brokerHash],
      );
    },
    getEnrollToken: async (id) => {
      const row = await db.one<EnrollTokenDbRow>('SELECT * FROM enroll_tokens WHERE id = $1', [id]);
      return row ? enrollToken(row) : null;
    },
    listEnrollTokens: async () =>
      (await db.rows<EnrollTokenDbRow>('SELECT * FROM enroll_tokens ORDER BY created_at, id')).map(enrollToken),
    revokeEnrollToken: async (id, now) =>
      (await db.run('UPDATE enroll_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])) > 0,
    enrollDevice: async (tokenId, now, row) => {
      try {
        return await db.tx(async (sql) => {
          // One statement takes the use: the row lock makes a racing enrollment wait and then see uses = max_uses.
          const used = await sql.run(
            `UPDATE enroll_tokens SET uses = uses + 1
            WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 AND uses < max_uses`,
            [tokenId, now],
          );
          if (used === 0) return 'token-used-up' as const;
          const inserted = await sql.run(
            `INSERT INTO device_credentials ${CREDENTIAL_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT DO NOTHING`,
            credentialArgs(row),
          );
          // Throwing rolls the counted use back with the transaction.
          if (inserted === 0) throw new DeviceIdTaken();
          return 'enrolled' as const;
        });
      } catch (err: unknown) {
        if (err instanceof DeviceIdTaken) return 'device-id-taken';
        throw err;
      }
    },
    putCredential: async (row) => {
      await db.run(
        `INSERT INTO device_credentials ${CREDENTIAL_COLUMNS} VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (device_id) DO UPDATE SET class = excluded.class, hash = excluded.hash,
          broker_hash = excluded.broker_hash, enroll_token_id = excluded.enroll_token_id,
          created_at = excluded.created_at, revoked_at = NULL, enroll_session = excluded.enroll_session`,
        credentialArgs(row),
      );
    },
    getCredential: async (deviceId) => {
      const row = await db.one<CredentialDbRow>('SELECT * FROM device_credentials WHERE device_id = $1', [deviceId]);
      return row ? credential(row) : null;
    },
    findCredentialBySession: async (enrollTokenId, session) => {
      const row = await db.one<CredentialDbRow>(
        'SELECT * FROM device_credentials WHERE enroll_token_id = $1 AND enroll_session = $2',
        [enrollTokenId, session],
      );
      return row ? credential(row) : null;
    },
    listCredentials: async () =>
      (await db.rows<CredentialDbRow>('SELECT * FROM device_credentials ORDER BY device_id')).map(credential),
    revokeCredential: async (deviceId, now) =>
      (await db.run('UPDATE device_credentials SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL', [
        now,
        deviceId,
      ])) > 0,
  } satisfies AuthRepository);
}
