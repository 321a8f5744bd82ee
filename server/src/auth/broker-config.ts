import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_CHUNK_MESSAGE_BYTES, stripUndefined } from '@edgefleet/shared';
import { EXTERNAL_BROKER_SECRET_FILE } from '../server.js';
import { openStore } from '../store/sqlite/open.js';
import { mosquittoAcl, mosquittoConf, mosquittoPasswordHash, mosquittoPasswordLine } from './mosquitto.js';
import { generateSecret, systemRandomBytes, type RandomBytes } from './secrets.js';
import { createAuthService, SERVER_USERNAME } from './service.js';

export interface MosquittoFilesOptions {
  /** The server's data directory (its store holds the credentials). */
  readonly dataDir: string;
  /** Where to write `passwd`, `acl` and `mosquitto.conf`. */
  readonly outDir: string;
  /** Port mosquitto will listen on. Default 1883. */
  readonly port?: number;
  readonly bindAddress?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** Ordinary payload limit; the packet limit adds room for artifact chunks. Default 256 KiB. */
  readonly maxPayloadBytes?: number;
  readonly now?: () => number;
  readonly random?: RandomBytes;
}

export interface MosquittoFiles {
  readonly passwordFile: string;
  readonly aclFile: string;
  readonly confFile: string;
  readonly devices: number;
  readonly enrollTokens: number;
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

/**
 * `edgefleet broker-config mosquitto`: a password file (`$7$` PBKDF2-SHA512) with the server,
 * every active device and every live enrollment token, ACL patterns equal to the embedded
 * broker's rules, and a mosquitto.conf using both. Rerun after enrollments or revocations
 * and reload mosquitto (SIGHUP).
 */
export function writeMosquittoFiles(options: MosquittoFilesOptions): MosquittoFiles {
  const random = options.random ?? systemRandomBytes;
  const store = openStore({ dataDir: options.dataDir });
  try {
    const auth = createAuthService({ repo: store.auth, now: options.now ?? Date.now, random });
    const lines = [
      mosquittoPasswordLine(
        SERVER_USERNAME,
        mosquittoPasswordHash(serverBrokerSecret(options.dataDir, random), random),
      ),
    ];
    const skipped: string[] = [];
    const devices = auth.activeCredentials();
    for (const credential of devices) {
      if (credential.brokerHash === null) skipped.push(credential.deviceId);
      else lines.push(mosquittoPasswordLine(credential.deviceId, credential.brokerHash));
    }
    const tokens = auth.liveEnrollTokens().filter((t) => t.brokerHash !== null);
    for (const token of tokens) lines.push(mosquittoPasswordLine(`enroll-${token.id}`, token.brokerHash as string));
    const outDir = resolve(options.outDir);
    mkdirSync(outDir, { recursive: true });
    const passwordFile = join(outDir, 'passwd');
    const aclFile = join(outDir, 'acl');
    const confFile = join(outDir, 'mosquitto.conf');
    writeFileSync(passwordFile, `${lines.join('\n')}\n`, { mode: 0o600 });
    chmodSync(passwordFile, 0o600);
    writeFileSync(aclFile, mosquittoAcl());
    writeFileSync(
      confFile,
      mosquittoConf({
        port: options.port ?? 1883,
        passwordFile,
        aclFile,
        maxPacketBytes: Math.max(options.maxPayloadBytes ?? 256 * 1024, MAX_CHUNK_MESSAGE_BYTES) + 64 * 1024,
        ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
        ...stripUndefined({ tls: options.tls }),
      }),
    );
    return {
      passwordFile,
      aclFile,
      confFile,
      devices: devices.length - skipped.length,
      enrollTokens: tokens.length,
      skipped,
    };
  } finally {
    store.close();
  }
}
