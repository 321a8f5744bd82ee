/**
 * edgefleet's identities as mosquitto dynamic-security objects [EF-PROTO 7.3], pure data: one
 * role per device and per enrollment token (the plugin in mosquitto 2.0 has no `%u`/`%c`
 * topic patterns, so each role names its own topics), the server's role, the default access
 * (everything denied that a role does not allow), and the plugin's JSON configuration file
 * for a first start. The runtime client (dynsec-client.ts) sends the same objects as commands.
 */
import { DEVICE_CHANNELS, SERVER_CHANNELS, TOPIC_PREFIX } from '@edgefleet/shared';
import { SERVER_USERNAME } from './service.js';

/** The plugin's control topic and the topic its answers come back on. */
export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;

export type DynsecAclType =
  | 'publishClientSend'
  | 'publishClientReceive'
  | 'subscribeLiteral'
  | 'subscribePattern'
  | 'unsubscribeLiteral'
  | 'unsubscribePattern';

export interface DynsecAcl {
  readonly acltype: DynsecAclType;
  readonly topic: string;
  readonly priority: number;
  readonly allow: boolean;
}

export interface DynsecRole {
  readonly rolename: string;
  readonly textname: string;
  readonly acls: readonly DynsecAcl[];
}

const allow = (acltype: DynsecAclType, topic: string): DynsecAcl => ({ acltype, topic, priority: 0, allow: true });

/**
 * Default access when no role matches: deny publishing, subscribing and receiving (the
 * plugin's own default lets every client receive anything it could subscribe to).
 */
export const DEFAULT_ACL_ACCESS = Object.freeze({
  publishClientSend: false,
  publishClientReceive: false,
  subscribe: false,
  unsubscribe: true,
});

export const deviceRoleName = (deviceId: string): string => `edgefleet-device-${deviceId}`;
export const enrollRoleName = (tokenId: string): string => `edgefleet-enroll-${tokenId}`;
export const SERVER_ROLE_NAME = 'edgefleet-server';

/** A device: publish its device-to-server channels, read its server-to-device ones; nothing else. */
export function deviceRole(deviceId: string): DynsecRole {
  const own = `${TOPIC_PREFIX}/devices/${deviceId}`;
  return {
    rolename: deviceRoleName(deviceId),
    textname: `edgefleet device ${deviceId}`,
    acls: [
      ...DEVICE_CHANNELS.map((ch) => allow('publishClientSend', `${own}/${ch}`)),
      ...SERVER_CHANNELS.map((ch) => allow('subscribeLiteral', `${own}/${ch}`)),
      // Wildcards inside its own subtree, as on the embedded broker; delivery stays narrowed below.
      allow('subscribePattern', `${own}/#`),
      allow('subscribePattern', `${own}/+`),
      ...SERVER_CHANNELS.map((ch) => allow('publishClientReceive', `${own}/${ch}`)),
    ],
  };
}

/**
 * An enrollment token's user (`enroll-<id>`): its sessions' request topics and reply topics.
 * Every agent holding the token may read every session's replies; the secret in a reply is
 * sealed to the asking agent's key (shared/src/enroll-seal.ts), so that reveals nothing.
 */
export function enrollRole(tokenId: string): DynsecRole {
  const base = `${TOPIC_PREFIX}/enroll/enroll-${tokenId}`;
  return {
    rolename: enrollRoleName(tokenId),
    textname: `edgefleet enrollment token ${tokenId}`,
    acls: [
      allow('publishClientSend', `${base}/+/request`),
      allow('subscribePattern', `${base}/+/reply`),
      allow('publishClientReceive', `${base}/+/reply`),
    ],
  };
}

/**
 * The server: everything under the protocol prefix, and the plugin's control topics. mosquitto
 * 2.0's plugin checks a shared subscription with its `$share/<group>/` prefix, so replicas
 * (which subscribe to device topics as `$share/edgefleet/…`) need the shared form allowed too.
 */
export function serverRole(): DynsecRole {
  return {
    rolename: SERVER_ROLE_NAME,
    textname: 'edgefleet control server',
    acls: [
      allow('publishClientSend', `${TOPIC_PREFIX}/#`),
      allow('publishClientReceive', `${TOPIC_PREFIX}/#`),
      allow('subscribePattern', `${TOPIC_PREFIX}/#`),
      allow('unsubscribePattern', `${TOPIC_PREFIX}/#`),
      allow('subscribePattern', `$share/+/${TOPIC_PREFIX}/#`),
      allow('unsubscribePattern', `$share/+/${TOPIC_PREFIX}/#`),
      allow('publishClientSend', '$CONTROL/dynamic-security/#'),
      allow('publishClientReceive', '$CONTROL/dynamic-security/#'),
      allow('subscribePattern', '$CONTROL/dynamic-security/#'),
    ],
  };
}

/** A client entry of the plugin's file from a mosquitto `$7$` hash (same PBKDF2-SHA512, 12-byte salt). */
export function dynsecClientFromHash(
  username: string,
  brokerHash: string,
  options: { readonly rolename: string; readonly clientid?: string },
): Record<string, unknown> {
  const match = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(brokerHash);
  if (!match) throw new TypeError(`not a mosquitto $7$ hash for ${username}`);
  return {
    username,
    ...(options.clientid ? { clientid: options.clientid } : {}),
    password: match[3],
    salt: match[2],
    iterations: Number(match[1]),
    roles: [{ rolename: options.rolename, priority: -1 }],
  };
}

export interface DynsecFileInput {
  /** `$7$` hash of the server's broker password. */
  readonly serverHash: string;
  readonly devices: ReadonlyArray<{ readonly deviceId: string; readonly brokerHash: string }>;
  readonly enrollTokens: ReadonlyArray<{ readonly tokenId: string; readonly brokerHash: string }>;
}

/** The plugin's configuration file: default access, roles and clients for the store's identities. */
export function dynsecConfigFile(input: DynsecFileInput): Record<string, unknown> {
  const roles: DynsecRole[] = [serverRole()];
  const clients: Array<Record<string, unknown>> = [
    dynsecClientFromHash(SERVER_USERNAME, input.serverHash, { rolename: SERVER_ROLE_NAME }),
  ];
  for (const d of input.devices) {
    roles.push(deviceRole(d.deviceId));
    // A device connects with its id as client id: another credential cannot take its session over.
    clients.push(
      dynsecClientFromHash(d.deviceId, d.brokerHash, { rolename: deviceRoleName(d.deviceId), clientid: d.deviceId }),
    );
  }
  for (const t of input.enrollTokens) {
    roles.push(enrollRole(t.tokenId));
    clients.push(dynsecClientFromHash(`enroll-${t.tokenId}`, t.brokerHash, { rolename: enrollRoleName(t.tokenId) }));
  }
  return { defaultACLAccess: { ...DEFAULT_ACL_ACCESS }, clients, groups: [], roles };
}
