import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';

/** Source of random bytes; injected so tests can make tokens deterministic. */
export type RandomBytes = (size: number) => Buffer;
export const systemRandomBytes: RandomBytes = (size) => nodeRandomBytes(size);

/** Token kinds by prefix: admin (`efa_`), enrollment (`efe_`). */
export type TokenKind = 'admin' | 'enroll';
const PREFIX: Readonly<Record<TokenKind, string>> = { admin: 'efa', enroll: 'efe' };
const TOKEN_PATTERN = /^(efa|efe)_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** A token split into its public id (stored, shown in lists) and the whole string (hashed). */
export interface IssuedToken {
  readonly id: string;
  /** `efa_<id>_<secret>`: shown once, never stored. */
  readonly token: string;
  readonly hash: string;
}

/** sha256 hex. Tokens and device secrets are 256-bit random, so a slow KDF adds nothing. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** 32 random bytes as base64url (43 chars): a device secret or a token's secret part. */
export function generateSecret(random: RandomBytes = systemRandomBytes): string {
  return random(32).toString('base64url');
}

export function issueToken(kind: TokenKind, random: RandomBytes = systemRandomBytes): IssuedToken {
  const id = random(6).toString('hex');
  const token = `${PREFIX[kind]}_${id}_${generateSecret(random)}`;
  return { id, token, hash: hashSecret(token) };
}

/** Parses a presented token; null when it is not of the given kind's shape. */
export function parseToken(kind: TokenKind, token: string): { readonly id: string } | null {
  const match = TOKEN_PATTERN.exec(token);
  if (!match || match[1] !== PREFIX[kind]) return null;
  return { id: match[2] as string };
}
