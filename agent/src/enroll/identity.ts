import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import {
  asError,
  classNameSchema,
  deviceIdSchema,
  EdgefleetError,
  ENROLL_PUBLIC_KEY_PATTERN,
  ENROLL_SESSION_PATTERN,
  errnoCode,
  exportEnrollPrivateKey,
  importEnrollKeyPair,
} from '@edgefleet/shared/device';
import type { PendingEnrollment } from './enroll.js';

/** File in the agent's data directory holding its enrolled identity (mode 0600). */
export const IDENTITY_FILE = 'identity.json';
/** File holding an enrollment in progress (session and key), so a restart resumes it without a second token use. */
export const PENDING_ENROLLMENT_FILE = 'enroll-pending.json';

export const agentIdentitySchema = z.strictObject({
  deviceId: deviceIdSchema,
  deviceClass: classNameSchema,
  /** MQTT password of this device. */
  secret: z.string().min(1),
  /** Manifest signing keys the server gave at enrollment (base64). */
  signingKeys: z.array(z.string()).max(16),
  enrolledAt: z.number().int().nonnegative(),
});
export type AgentIdentity = z.infer<typeof agentIdentitySchema>;

/** Reads the stored identity; null when the agent has not enrolled yet. */
export function readIdentity(dataDir: string): AgentIdentity | null {
  const path = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw new EdgefleetError(
      'EF_ERR_ENROLL_FAILED',
      `cannot read ${path}: ${asError(err).message}`,
      { path },
      { cause: err },
    );
  }
  const parsed = agentIdentitySchema.safeParse(
    (() => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return null;
      }
    })(),
  );
  if (!parsed.success)
    throw new EdgefleetError(
      'EF_ERR_ENROLL_FAILED',
      `${path} is not a valid identity; delete it and start the agent with a new --enroll-token`,
      { path },
    );
  return parsed.data;
}

/** Writes a JSON file atomically with mode 0600. */
function writePrivateJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  // The mode argument is filtered by the umask and ignored for an existing file; set it explicitly.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Writes the identity atomically with mode 0600 (it holds the device's secret). */
export async function writeIdentity(dataDir: string, identity: AgentIdentity): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, IDENTITY_FILE);
  writePrivateJson(path, identity);
  return path;
}

const pendingSchema = z.strictObject({
  /** The 12-hex id of the token the enrollment uses; another token starts a new enrollment. */
  tokenId: z.string().regex(/^[0-9a-f]{12}$/),
  session: z.string().regex(ENROLL_SESSION_PATTERN),
  publicKey: z.string().regex(ENROLL_PUBLIC_KEY_PATTERN),
  privateKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});

/** The enrollment in progress with this token, or null (none, another token's, or unreadable). */
export function readPendingEnrollment(dataDir: string, tokenId: string): PendingEnrollment | null {
  try {
    const parsed = pendingSchema.safeParse(JSON.parse(readFileSync(join(dataDir, PENDING_ENROLLMENT_FILE), 'utf8')));
    if (!parsed.success || parsed.data.tokenId !== tokenId) return null;
    return { session: parsed.data.session, keys: importEnrollKeyPair(parsed.data.privateKey, parsed.data.publicKey) };
  } catch {
    return null;
  }
}

export async function writePendingEnrollment(
  dataDir: string,
  tokenId: string,
  pending: PendingEnrollment,
): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  writePrivateJson(join(dataDir, PENDING_ENROLLMENT_FILE), {
    tokenId,
    session: pending.session,
    publicKey: pending.keys.publicKey,
    privateKey: exportEnrollPrivateKey(pending.keys.privateKey),
  });
}

export function clearPendingEnrollment(dataDir: string): void {
  rmSync(join(dataDir, PENDING_ENROLLMENT_FILE), { force: true });
}
