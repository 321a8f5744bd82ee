/**
 * An external mosquitto configured like the embedded broker: the password file is the
 * server's to produce (it holds the hashes; `GET /v1/broker/mosquitto-passwd`), the ACL and
 * mosquitto.conf are the same for every fleet. `edgefleet broker-config mosquitto` asks the
 * server for the first and writes all three.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_CHUNK_MESSAGE_BYTES, stripUndefined, type MosquittoPasswd } from '@edgefleet/shared';
import { mosquittoAcl, mosquittoConf, mosquittoPasswordHash, mosquittoPasswordLine } from './mosquitto.js';
import { generateSecret, systemRandomBytes, type RandomBytes } from './secrets.js';
import { SERVER_USERNAME, type AuthService } from './service.js';

/** File in the data directory holding the server's MQTT password for an external broker. */
export const EXTERNAL_BROKER_SECRET_FILE = 'mqtt-server.secret';

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

/** The password file's content: the server (its secret is created on first use), active devices, live tokens. */
export async function mosquittoPasswd(
  auth: Pick<AuthService, 'activeCredentials' | 'liveEnrollTokens'>,
  options: { readonly dataDir: string; readonly maxPayloadBytes: number; readonly random?: RandomBytes },
): Promise<MosquittoPasswd> {
  const random = options.random ?? systemRandomBytes;
  const lines = [
    mosquittoPasswordLine(SERVER_USERNAME, mosquittoPasswordHash(serverBrokerSecret(options.dataDir, random), random)),
  ];
  const skipped: string[] = [];
  const devices = await auth.activeCredentials();
  for (const credential of devices) {
    if (credential.brokerHash === null) skipped.push(credential.deviceId);
    else lines.push(mosquittoPasswordLine(credential.deviceId, credential.brokerHash));
  }
  let enrollTokens = 0;
  for (const token of await auth.liveEnrollTokens()) {
    if (token.brokerHash === null) continue;
    lines.push(mosquittoPasswordLine(`enroll-${token.id}`, token.brokerHash));
    enrollTokens += 1;
  }
  return {
    passwd: `${lines.join('\n')}\n`,
    devices: devices.length - skipped.length,
    enrollTokens,
    skipped,
    maxPayloadBytes: options.maxPayloadBytes,
  };
}

export interface MosquittoFilesOptions {
  /** What the server answered for `GET /v1/broker/mosquitto-passwd`. */
  readonly passwd: MosquittoPasswd;
  /** Where to write `passwd`, `acl` and `mosquitto.conf`. */
  readonly outDir: string;
  /** Port mosquitto will listen on. Default 1883. */
  readonly port?: number;
  readonly bindAddress?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
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

/**
 * Writes the password file (mode 0600), ACL `pattern` lines equal to the embedded broker's
 * rules and a mosquitto.conf using both. Rerun after enrollments or revocations and reload
 * mosquitto (SIGHUP).
 */
export function writeMosquittoFiles(options: MosquittoFilesOptions): MosquittoFiles {
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const passwordFile = join(outDir, 'passwd');
  const aclFile = join(outDir, 'acl');
  const confFile = join(outDir, 'mosquitto.conf');
  writeFileSync(passwordFile, options.passwd.passwd, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
  writeFileSync(aclFile, mosquittoAcl());
  writeFileSync(
    confFile,
    mosquittoConf({
      port: options.port ?? 1883,
      passwordFile,
      aclFile,
      // Artifact chunks are larger than ordinary payloads; the packet limit leaves room for them.
      maxPacketBytes: Math.max(options.passwd.maxPayloadBytes, MAX_CHUNK_MESSAGE_BYTES) + 64 * 1024,
      ...stripUndefined({ bindAddress: options.bindAddress, tls: options.tls }),
    }),
  );
  const { devices, enrollTokens, skipped } = options.passwd;
  return { passwordFile, aclFile, confFile, devices, enrollTokens, skipped };
}
