/**
 * An external mosquitto configured like the embedded broker. The credentials are the server's
 * to give (it holds the hashes; `GET /v1/broker/mosquitto-credentials`); the ACL and
 * mosquitto.conf are the same for every fleet. `edgefleet broker-config mosquitto` asks the
 * server for the first and writes the files on the broker's host: a password file with ACL
 * patterns, or the dynamic security plugin's file seeded with the same identities.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_CHUNK_MESSAGE_BYTES, stripUndefined, type MosquittoCredentials } from '@edgefleet/shared';
import { dynsecConfigFile } from './dynsec-model.js';
import { mosquittoAcl, mosquittoConf, mosquittoPasswordHash, mosquittoPasswordLine } from './mosquitto.js';
import { generateSecret, systemRandomBytes, type RandomBytes } from './secrets.js';
import { SERVER_USERNAME, type AuthService } from './service.js';

/** File in the data directory holding the server's MQTT password for an external broker. */
export const EXTERNAL_BROKER_SECRET_FILE = 'mqtt-server.secret';

export interface MosquittoFilesOptions {
  /** What the server answered for `GET /v1/broker/mosquitto-credentials`. */
  readonly credentials: MosquittoCredentials;
  /** Where to write the files. */
  readonly outDir: string;
  /** Port mosquitto will listen on. Default 1883. */
  readonly port?: number;
  readonly bindAddress?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /**
   * Configure mosquitto's dynamic security plugin (this path to `mosquitto_dynamic_security.so`)
   * instead of a password file and ACL. Default: files.
   */
  readonly dynsecPlugin?: string;
  /**
   * User mosquitto runs as, who must own the credential files (mosquitto reads them after
   * dropping root; the plugin also rewrites its file). Default: `mosquitto` when running as
   * root and that user exists, else nobody (the files stay the caller's, mode 0600).
   */
  readonly owner?: string | null;
}

export interface MosquittoFiles {
  /** `passwd` (file mode) or `dynamic-security.json` (dynsec mode). */
  readonly credentialsFile: string;
  /** The ACL file, or null in dynsec mode (roles live in the plugin's file). */
  readonly aclFile: string | null;
  readonly confFile: string;
  readonly mode: 'file' | 'dynsec';
  readonly devices: number;
  readonly enrollTokens: number;
  /** Who the credential file was given to, or null when it stayed the caller's. */
  readonly owner: string | null;
  /** Credentials issued before hashes for mosquitto were kept: re-enroll these devices. */
  readonly skipped: readonly string[];
}

/**
 * Where the server's broker password lives: the shared directory when replicas have one (every
 * replica connects as the one server user, each with its own client id), else the data directory.
 */
export function serverSecretDir(dirs: { readonly dataDir: string; readonly sharedDir: string | null }): string {
  return resolve(dirs.sharedDir ?? dirs.dataDir);
}

/** The server's password for an external broker, created (mode 0600) on first use; replicas racing agree on one. */
export function serverBrokerSecret(dir: string, random: RandomBytes = systemRandomBytes): string {
  const path = join(resolve(dir), EXTERNAL_BROKER_SECRET_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    mkdirSync(resolve(dir), { recursive: true });
    try {
      // 'wx': the first writer wins; a replica that lost the race reads the winner's secret.
      writeFileSync(path, `${generateSecret(random)}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return readFileSync(path, 'utf8').trim();
  }
}

/**
 * What mosquitto needs to know: `$7$` hashes of the server (its
 * secret is created on first use), active devices, live tokens.
 */
export async function mosquittoCredentials(
  auth: Pick<AuthService, 'activeCredentials' | 'liveEnrollTokens'>,
  options: {
    readonly dataDir: string;
    readonly sharedDir: string | null;
    readonly maxPayloadBytes: number;
    readonly random?: RandomBytes;
  },
): Promise<MosquittoCredentials> {
  const random = options.random ?? systemRandomBytes;
  const skipped: string[] = [];
  const devices: Array<{ deviceId: string; brokerHash: string }> = [];
  for (const credential of await auth.activeCredentials()) {
    if (credential.brokerHash === null) skipped.push(credential.deviceId);
    else devices.push({ deviceId: credential.deviceId, brokerHash: credential.brokerHash });
  }
  const enrollTokens = (await auth.liveEnrollTokens()).flatMap((t) =>
    t.brokerHash === null ? [] : [{ tokenId: t.id, brokerHash: t.brokerHash }],
  );
  return {
    serverHash: mosquittoPasswordHash(serverBrokerSecret(serverSecretDir(options), random), random),
    devices,
    enrollTokens,
    skipped,
    maxPayloadBytes: options.maxPayloadBytes,
  };
}

/** Where Debian and others install the plugin; `dpkg -L mosquitto` is asked first. */
const PLUGIN_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/arm-linux-gnueabihf/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
];

/** Finds `mosquitto_dynamic_security.so` on this host (Debian: from `dpkg -L mosquitto`); null when absent. */
export function findDynsecPlugin(): string | null {
  const listed = spawnSync('dpkg', ['-L', 'mosquitto'], { encoding: 'utf8' });
  const fromDpkg =
    listed.status === 0
      ? listed.stdout.split('\n').find((l) => l.endsWith('/mosquitto_dynamic_security.so'))
      : undefined;
  if (fromDpkg && existsSync(fromDpkg)) return fromDpkg;
  return PLUGIN_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** uid and gid of a local user from /etc/passwd, or null. */
export function lookupUser(name: string, passwdFile = '/etc/passwd'): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync(passwdFile, 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // No passwd file (containers without one): treat as unknown.
  }
  return null;
}

/** The broker's user the credential files go to (see {@link MosquittoFilesOptions.owner}). */
function resolveOwner(requested: string | null | undefined): { name: string; uid: number; gid: number } | null {
  if (requested === null) return null;
  const name = requested ?? (process.getuid?.() === 0 ? 'mosquitto' : undefined);
  if (name === undefined) return null;
  const ids = lookupUser(name);
  if (!ids) {
    if (requested !== undefined) throw new Error(`no local user ${JSON.stringify(name)} to give the broker files to`);
    return null;
  }
  return { name, ...ids };
}

/** Writes a secret-bearing file with mode 0600, owned by the broker's user when one is given. */
function writePrivate(path: string, text: string, owner: { uid: number; gid: number } | null): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
  if (owner) chownSync(path, owner.uid, owner.gid);
}

/**
 * `edgefleet broker-config mosquitto`: the server's credentials as mosquitto needs them, plus
 * a mosquitto.conf using them: either a password file (`$7$` PBKDF2-SHA512) with ACL patterns
 * equal to the embedded broker's rules (rerun and reload after every enrollment or
 * revocation), or, with `dynsecPlugin`, the dynamic security plugin's file seeded with the
 * same identities, after which the server creates and deletes them live.
 */
export function writeMosquittoFiles(options: MosquittoFilesOptions): MosquittoFiles {
  const owner = resolveOwner(options.owner);
  const { serverHash, devices, enrollTokens: tokens, skipped } = options.credentials;
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const confFile = join(outDir, 'mosquitto.conf');
  const common = {
    port: options.port ?? 1883,
    // Artifact chunks are larger than ordinary payloads; the packet limit leaves room for them.
    maxPacketBytes: Math.max(options.credentials.maxPayloadBytes, MAX_CHUNK_MESSAGE_BYTES) + 64 * 1024,
    ...stripUndefined({ bindAddress: options.bindAddress, tls: options.tls }),
  };
  let credentialsFile: string;
  let aclFile: string | null = null;
  if (options.dynsecPlugin) {
    // The plugin saves every change as <file>.new and renames it: mosquitto's user needs the directory too.
    if (owner) chownSync(outDir, owner.uid, owner.gid);
    credentialsFile = join(outDir, 'dynamic-security.json');
    const file = dynsecConfigFile({ serverHash, devices, enrollTokens: tokens });
    writePrivate(credentialsFile, `${JSON.stringify(file, null, 2)}\n`, owner);
    writeFileSync(
      confFile,
      mosquittoConf({ ...common, dynsec: { plugin: options.dynsecPlugin, configFile: credentialsFile } }),
    );
  } else {
    credentialsFile = join(outDir, 'passwd');
    aclFile = join(outDir, 'acl');
    const lines = [
      mosquittoPasswordLine(SERVER_USERNAME, serverHash),
      ...devices.map((d) => mosquittoPasswordLine(d.deviceId, d.brokerHash)),
      ...tokens.map((t) => mosquittoPasswordLine(`enroll-${t.tokenId}`, t.brokerHash)),
    ];
    writePrivate(credentialsFile, `${lines.join('\n')}\n`, owner);
    writeFileSync(aclFile, mosquittoAcl());
    writeFileSync(confFile, mosquittoConf({ ...common, passwordFile: credentialsFile, aclFile }));
  }
  return {
    credentialsFile,
    aclFile,
    confFile,
    mode: options.dynsecPlugin ? 'dynsec' : 'file',
    devices: devices.length,
    enrollTokens: tokens.length,
    owner: owner?.name ?? null,
    skipped,
  };
}
