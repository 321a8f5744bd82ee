/**
 * Ed25519 signing of deployment manifests [EF-PROTO 6.2]. The only place edgefleet signs or
 * verifies: the server signs manifest bodies with its private key, agents verify them
 * against a LIST of trusted public keys (more than one during a key rotation).
 *
 * What is signed is {@link canonicalJson} of the manifest body: keys sorted, no whitespace,
 * UTF-8. Both sides serialise the same parsed object, so field order on the wire and
 * whitespace never matter.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

/** Raw Ed25519 public keys are 32 bytes. */
const RAW_PUBLIC_KEY_BYTES = 32;

/**
 * Deterministic JSON: object keys sorted by code unit, no whitespace, `undefined` members
 * omitted (as JSON.stringify does). Throws on values JSON cannot represent exactly
 * (non-finite numbers, bigint, functions): a programmer error, never signed silently.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value))
        return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
  }
}

/** Key id: the first 16 hex digits of sha256(raw 32-byte public key). */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}

function rawOf(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

/** A public key an agent trusts, with its key id. */
export interface TrustedKey {
  readonly keyId: string;
  /** Raw 32-byte public key, base64. */
  readonly publicKey: string;
  readonly key: KeyObject;
}

/**
 * Parses a trusted key given as base64 of the raw 32 bytes (what the server prints and the
 * agent config holds) or as an SPKI PEM. Throws TypeError on anything else.
 */
export function parseTrustedKey(text: string): TrustedKey {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('-----BEGIN')) {
    key = createPublicKey(trimmed);
  } else {
    const raw = Buffer.from(trimmed, 'base64');
    if (raw.byteLength !== RAW_PUBLIC_KEY_BYTES || raw.toString('base64') !== trimmed) {
      throw new TypeError('a trusted key must be base64 of a raw 32-byte Ed25519 public key, or an SPKI PEM');
    }
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  }
  const raw = rawOf(key);
  return Object.freeze({ keyId: keyIdOf(raw), publicKey: raw.toString('base64'), key });
}

/** The server's signing key. */
export interface ManifestSigner {
  readonly keyId: string;
  /** Raw public key, base64: give this to agents as a trusted key. */
  readonly publicKey: string;
  /** Ed25519 signature (base64) of canonicalJson(body). */
  sign(body: unknown): string;
}

/** A fresh Ed25519 private key as PKCS#8 PEM (the server keeps it in its data directory, mode 0600). */
export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Loads a signer from a PKCS#8 PEM private key; throws TypeError if it is not Ed25519. */
export function createManifestSigner(privateKeyPem: string): ManifestSigner {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new TypeError(`signing key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const raw = rawOf(createPublicKey(privateKey));
  const keyId = keyIdOf(raw);
  return Object.freeze({
    keyId,
    publicKey: raw.toString('base64'),
    // Ed25519 hashes internally; node:crypto wants a null digest for it.
    sign: (body: unknown) => sign(null, Buffer.from(canonicalJson(body), 'utf8'), privateKey).toString('base64'),
  });
}

/** Why a signature check failed; also the `reason` of the agent's rejection event. */
export type SignatureFailure = 'unsigned' | 'unknown-key' | 'bad-signature';

export type SignatureCheck =
  | { readonly ok: true; readonly keyId: string }
  | { readonly ok: false; readonly reason: SignatureFailure; readonly detail: string };

/**
 * Verifies `signature` (base64) over canonicalJson(body) with the trusted key named by
 * `keyId`. The key id only selects the key; a forged id cannot help, since the signature
 * must still verify under that key. Never throws.
 */
export function verifySignature(
  body: unknown,
  keyId: string | undefined,
  signature: string | undefined,
  trusted: readonly TrustedKey[],
): SignatureCheck {
  if (signature === undefined || signature === '' || keyId === undefined)
    return { ok: false, reason: 'unsigned', detail: 'the manifest carries no signature' };
  const key = trusted.find((k) => k.keyId === keyId);
  if (!key) {
    const trustedIds = trusted.map((k) => k.keyId).join(', ');
    return {
      ok: false,
      reason: 'unknown-key',
      detail: `key ${keyId} is not among the ${trusted.length} trusted key(s) ${trustedIds}`,
    };
  }
  let valid = false;
  try {
    const sig = Buffer.from(signature, 'base64');
    valid = sig.byteLength === 64 && verify(null, Buffer.from(canonicalJson(body), 'utf8'), key.key, sig);
  } catch {
    valid = false;
  }
  return valid
    ? { ok: true, keyId }
    : { ok: false, reason: 'bad-signature', detail: `signature does not verify under key ${keyId}` };
}
