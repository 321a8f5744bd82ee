import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { classNameSchema, deviceIdSchema, EdgefleetError, asError, errnoCode } from '@edgefleet/shared';

/** File in the agent's data directory holding its enrolled identity (mode 0600). */
export const IDENTITY_FILE = 'identity.json';

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

/** Writes the identity atomically with mode 0600 (it holds the device's secret). */
export async function writeIdentity(dataDir: string, identity: AgentIdentity): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, IDENTITY_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
  // The mode argument is filtered by the umask and ignored for an existing file; set it explicitly.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}
