/**
 * The auth repository (used by the auth service): admin tokens, enrollment tokens and device
 * credentials. Hashes in, hashes out: no secret ever reaches the store.
 */
import type { TokenScope } from '@edgefleet/shared';

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
  /** The enrollment session that issued it (null: provisioned without enrollment). */
  readonly enrollSession: string | null;
}

/** What {@link AuthRepository.enrollDevice} did. */
export type EnrollOutcome = 'enrolled' | 'token-used-up' | 'device-id-taken';

export interface AuthRepository {
  insertAdminToken(row: Omit<AdminTokenRow, 'lastUsedAt' | 'revokedAt'>): Promise<void>;
  getAdminToken(id: string): Promise<AdminTokenRow | null>;
  listAdminTokens(): Promise<AdminTokenRow[]>;
  /** Sets last-used at most once a minute per token, so reads do not turn into a write each. */
  touchAdminToken(id: string, now: number): Promise<void>;
  /** False when there is no such token or it was already revoked. */
  revokeAdminToken(id: string, now: number): Promise<boolean>;

  insertEnrollToken(row: Omit<EnrollTokenRow, 'uses' | 'revokedAt'>): Promise<void>;
  getEnrollToken(id: string): Promise<EnrollTokenRow | null>;
  listEnrollTokens(): Promise<EnrollTokenRow[]>;
  revokeEnrollToken(id: string, now: number): Promise<boolean>;
  /**
   * One enrollment, atomically: counts a use of the token if it is live (not revoked, not
   * expired at `now`, uses left) and stores the credential if no device holds that id yet.
   * Nothing changes unless both succeed; two agents racing for the last use cannot both win.
   */
  enrollDevice(tokenId: string, now: number, credential: Omit<CredentialRow, 'revokedAt'>): Promise<EnrollOutcome>;

  /** Creates or replaces (re-provisioning) a device credential; clears any revocation. */
  putCredential(row: Omit<CredentialRow, 'revokedAt'>): Promise<void>;
  getCredential(deviceId: string): Promise<CredentialRow | null>;
  /** The credential an enrollment session of a token issued, if any. */
  findCredentialBySession(enrollTokenId: string, session: string): Promise<CredentialRow | null>;
  listCredentials(): Promise<CredentialRow[]>;
  revokeCredential(deviceId: string, now: number): Promise<boolean>;
  /**
   * Binds a credential to a class (an admin's change, or the
   * first hello of one issued without); false when there is none.
   */
  setCredentialClass(deviceId: string, deviceClass: string): Promise<boolean>;
}
