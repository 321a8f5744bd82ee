/**
 * The device secret in an enrollment reply is sealed to a key only the enrolling agent holds
 * [EF-PROTO 7.2]: the agent makes an X25519 key pair per enrollment and sends the public half
 * in its request; the server answers with
 *
 *   base64url( ephemeral X25519 public key (32) | AES-256-GCM nonce (12) | tag (16) | ciphertext )
 *
 * where the AES key is HKDF-SHA256 of the X25519 shared secret, and the enrollment's
 * identity (`<enrollId>/<session>/<deviceId>`) is both HKDF info and GCM associated data.
 * Why: every agent enrolling with one token may subscribe to that token's reply topics (a
 * broker without per-connection topic patterns, such as mosquitto's dynamic security plugin,
 * cannot confine them further), and a broker log or bridge sees every reply. Sealed, a
 * reply is useless to anyone but the agent that asked.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

const INFO_PREFIX = 'edgefleet-enroll-v1 ';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** A raw X25519 public key as base64url (32 bytes → 43 characters). */
export const ENROLL_PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface EnrollKeyPair {
  /** base64url of the raw 32-byte X25519 public key (what the request carries). */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

/** A fresh X25519 key pair for one enrollment. */
export function generateEnrollKeyPair(): EnrollKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: String(publicKey.export({ format: 'jwk' }).x), privateKey };
}

/** The private key as base64url (kept in the agent's data dir while an enrollment is pending). */
export function exportEnrollPrivateKey(key: KeyObject): string {
  return String(key.export({ format: 'jwk' }).d);
}

/** Rebuilds a key pair from its exported private half. */
export function importEnrollKeyPair(privateKey: string, publicKey: string): EnrollKeyPair {
  return {
    publicKey,
    privateKey: createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privateKey, x: publicKey }, format: 'jwk' }),
  };
}

function x25519PublicKey(base64url: string): KeyObject {
  if (!ENROLL_PUBLIC_KEY_PATTERN.test(base64url)) throw new TypeError('not a base64url X25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url }, format: 'jwk' });
}

function deriveKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer, context: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), `${INFO_PREFIX}${context}`, KEY_BYTES),
  );
}

/** Seals `plaintext` to the agent's public key; `context` must be what the agent will pass to {@link openSecret}. */
export function sealSecret(recipientPublicKey: string, plaintext: string, context: string): string {
  const recipient = x25519PublicKey(recipientPublicKey);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralRaw = Buffer.from(String(ephemeral.publicKey.export({ format: 'jwk' }).x), 'base64url');
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = deriveKey(shared, ephemeralRaw, Buffer.from(recipientPublicKey, 'base64url'), context);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([ephemeralRaw, nonce, cipher.getAuthTag(), ciphertext]).toString('base64url');
}

/**
 * Opens a sealed secret with the agent's key pair; throws (a TypeError) when it was sealed to
 * another key or context, or was altered on the way.
 */
export function openSecret(keys: EnrollKeyPair, sealed: string, context: string): string {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.byteLength <= KEY_BYTES + NONCE_BYTES + TAG_BYTES) throw new TypeError('sealed secret is too short');
  const ephemeralRaw = bytes.subarray(0, KEY_BYTES);
  const nonce = bytes.subarray(KEY_BYTES, KEY_BYTES + NONCE_BYTES);
  const tag = bytes.subarray(KEY_BYTES + NONCE_BYTES, KEY_BYTES + NONCE_BYTES + TAG_BYTES);
  const ciphertext = bytes.subarray(KEY_BYTES + NONCE_BYTES + TAG_BYTES);
  const shared = diffieHellman({
    privateKey: keys.privateKey,
    publicKey: x25519PublicKey(ephemeralRaw.toString('base64url')),
  });
  const key = deriveKey(shared, ephemeralRaw, Buffer.from(keys.publicKey, 'base64url'), context);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (err: unknown) {
    throw new TypeError('sealed secret does not open with this key and context', { cause: err });
  }
}
