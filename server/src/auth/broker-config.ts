import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_CHUNK_MESSAGE_BYTES } from '@edgefleet/shared';
import { EXTERNAL_BROKER_SECRET_FILE } from '../server.js';
import { openStore } from '../store/db.js';
import { dynsecConfigFile } from './dynsec-model.js';
import { mosquittoAcl, mosquittoConf, mosquittoPasswordHash, mosquittoPasswordLine } from './mosquitto.js';
import { generateSecret, systemRandomBytes, type RandomBytes } from './secrets.js';
import { createAuthService, SERVER_USERNAME } from './service.js';

export interface MosquittoFilesOptions {
  /** The server's data directory (its store holds the credentials). */
  readonly dataDir: string;
  /** Where to write the files. */
  readonly outDir: string;
  /** Port mosquitto will listen on. Default 1883. */
  readonly port?: number;
  readonly bindAddress?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Ordinary payload limit; the packet limit adds room for artifact chunks. Default 256 KiB. */
  readonly maxPayloadBytes?: number;
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
  readonly now?: () => number;
  readonly random?: RandomBytes;
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

/** The server's password for an external broker, created (mode 0600) on first use. */
export function serverBrokerSecret(dataDir: string, random: RandomBytes = systemRandomBytes): string {
  const path = join(resolve(dataDir), EXTERNAL_BROKER_SECRET_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    const secret = generateSecret(random);
    mkdirSync(resolve(dataDir), { recursive: true });
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    return secret;
  }
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
 * `edgefleet broker-config mosquitto`: the credentials of the server, every active device and
 * every live enrollment token, as mosquitto needs them, plus a mosquitto.conf using them:
 * either a password file (`$7$` PBKDF2-SHA512) with ACL patterns equal to the embedded
 * broker's rules (rerun and reload after every enrollment or revocation), or, with
 * `dynsecPlugin`, the dynamic security plugin's file seeded with the same identities, after
 * which the server creates and deletes them live.
 */
export function writeMosquittoFiles(options: MosquittoFilesOptions): MosquittoFiles {
  const random = options.random ?? systemRandomBytes;
  const owner = resolveOwner(options.owner);
  const store = openStore({ dataDir: options.dataDir });
  try {
    const auth = createAuthService({ repo: store.auth, now: options.now ?? Date.now, random });
    const serverHash = mosquittoPasswordHash(serverBrokerSecret(options.dataDir, random), random);
    const skipped: string[] = [];
    const active = auth.activeCredentials();
    const devices: Array<{ deviceId: string; brokerHash: string }> = [];
    for (const credential of active) {
      if (credential.brokerHash === null) skipped.push(credential.deviceId);
      else devices.push({ deviceId: credential.deviceId, brokerHash: credential.brokerHash });
    }
    const tokens = auth
      .liveEnrollTokens()
      .flatMap((t) => (t.brokerHash === null ? [] : [{ tokenId: t.id, brokerHash: t.brokerHash }]));
    const outDir = resolve(options.outDir);
    mkdirSync(outDir, { recursive: true });
    const confFile = join(outDir, 'mosquitto.conf');
    const common = {
      port: options.port ?? 1883,
      maxPacketBytes: Math.max(options.maxPayloadBytes ?? 256 * 1024, MAX_CHUNK_MESSAGE_BYTES) + 64 * 1024,
      ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
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
  } finally {
    store.close();
  }
}
