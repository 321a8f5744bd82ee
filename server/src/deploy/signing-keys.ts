/**
 * The server's Ed25519 signing keys, kept in `<dataDir>/keys/`:
 *
 *   signing-<keyId>.pem   PKCS#8 private key, mode 0600, one per key ever made
 *   keyring.json          { active: keyId, keys: [keyId…] }: all listed keys are published
 *   trusted-keys.txt      the listed public keys, base64, one per line: what agents trust
 *
 * The first start creates one key. A rotation adds a new active key and keeps the old ones
 * listed, so agents configured with both accept manifests during the switch [EF-PROTO 6.2].
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  createManifestSigner,
  EdgefleetError,
  generateSigningKeyPem,
  asError,
  type ManifestSigner,
} from '@edgefleet/shared';

export const KEYS_DIR = 'keys';

const keyringSchema = z.strictObject({
  active: z.string().regex(/^[0-9a-f]{16}$/),
  keys: z.array(z.string().regex(/^[0-9a-f]{16}$/)).min(1),
});

export interface SigningKeyring {
  /** Signs new manifests. */
  readonly active: ManifestSigner;
  /** Every listed key's public half (base64 raw), the active one first. */
  readonly publicKeys: readonly { readonly keyId: string; readonly publicKey: string }[];
  readonly dir: string;
}

function writePrivate(path: string, text: string): void {
  // A name of its own: replicas sharing the directory may write the same file at once.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function loadSigner(dir: string, keyId: string): ManifestSigner {
  const path = join(dir, `signing-${keyId}.pem`);
  try {
    const signer = createManifestSigner(readFileSync(path, 'utf8'));
    if (signer.keyId !== keyId) throw new Error(`holds key ${signer.keyId}`);
    return signer;
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_SIGNING_KEY',
      `signing key ${path} cannot be used (${asError(err).message}); restore it from a backup or remove it from ` +
        `keyring.json`,
      { path },
      { cause: err },
    );
  }
}

function save(dir: string, active: string, keys: readonly string[]): SigningKeyring {
  const signers = keys.map((k) => loadSigner(dir, k));
  const activeSigner = signers.find((s) => s.keyId === active);
  if (!activeSigner)
    throw new EdgefleetError(
      'EF_ERR_SIGNING_KEY',
      `keyring.json names active key ${active} but does not list it; fix ${join(dir, 'keyring.json')}`,
    );
  writePrivate(join(dir, 'keyring.json'), `${JSON.stringify({ active, keys }, null, 2)}\n`);
  const ordered = [activeSigner, ...signers.filter((s) => s !== activeSigner)];
  writeFileSync(join(dir, 'trusted-keys.txt'), ordered.map((s) => `${s.publicKey}\n`).join(''));
  return Object.freeze({
    active: activeSigner,
    publicKeys: ordered.map((s) => ({ keyId: s.keyId, publicKey: s.publicKey })),
    dir,
  });
}

function newKey(dir: string): string {
  const pem = generateSigningKeyPem();
  const keyId = createManifestSigner(pem).keyId;
  writePrivate(join(dir, `signing-${keyId}.pem`), pem);
  return keyId;
}

/** Loads the keyring, creating the first key when there is none. */
export function loadSigningKeyring(dataDir: string): SigningKeyring {
  const dir = join(resolve(dataDir), KEYS_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ringPath = join(dir, 'keyring.json');
  if (!existsSync(ringPath)) {
    const keyId = newKey(dir);
    // Replicas sharing the directory may start together: the first keyring linked into place wins, the others load it.
    const tmp = `${ringPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ active: keyId, keys: [keyId] }, null, 2)}\n`, { mode: 0o600 });
    try {
      linkSync(tmp, ringPath);
      return save(dir, keyId, [keyId]);
    } catch (err: unknown) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  let parsed: z.infer<typeof keyringSchema>;
  try {
    parsed = keyringSchema.parse(JSON.parse(readFileSync(ringPath, 'utf8')));
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_SIGNING_KEY',
      `${ringPath} is not a valid keyring (${asError(err).message}); restore it or delete the keys folder to start ` +
        `over (agents must then trust the new key)`,
      { path: ringPath },
      { cause: err },
    );
  }
  return save(dir, parsed.active, parsed.keys);
}

/**
 * Rotation: a new active key; the previous keys stay listed (published) until `retire`
 * removes them, once every agent trusts the new one.
 */
export function rotateSigningKey(
  dataDir: string,
  options: { readonly retire?: readonly string[] } = {},
): SigningKeyring {
  const ring = loadSigningKeyring(dataDir);
  const keyId = newKey(ring.dir);
  const kept = ring.publicKeys.map((k) => k.keyId).filter((k) => !(options.retire ?? []).includes(k));
  return save(ring.dir, keyId, [keyId, ...kept]);
}
