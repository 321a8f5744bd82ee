/**
 * Keeps the broker's idea of who may connect in step with the auth store [EF-PROTO 7.4]:
 *
 * - `embedded`: aedes asks the auth service on every CONNECT, so only revocation needs an
 *   action (closing the device's connection);
 * - `dynsec`: mosquitto's dynamic security plugin; clients and roles are created and deleted
 *   live over its control topic, so a new token, a new device and a revocation take effect at
 *   once, and deleting a client disconnects it;
 * - `file`: an external broker configured from files (`edgefleet broker-config`); nothing can
 *   change without regenerating them and reloading the broker, which this says in the log;
 * - `none`: the services a CLI command starts on a data directory with no server running
 *   (local.ts) reach no broker; the server brings it in line when it starts (`reconcile`).
 */
import { asError } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { DeviceRepository } from '../store/devices.js';
import type { DynsecClient, DynsecCommand } from './dynsec-client.js';
import { deviceRole, deviceRoleName, enrollRole, enrollRoleName, type DynsecRole } from './dynsec-model.js';
import type { AuthService } from './service.js';

export type BrokerCredentialMode = 'embedded' | 'dynsec' | 'file' | 'none';

export interface BrokerCredentials {
  readonly mode: BrokerCredentialMode;
  /** A new enrollment token: agents may now connect with it. */
  enrollTokenCreated(tokenId: string, token: string): Promise<void>;
  /** A token revoked, expired or used up: nobody connects with it any more. */
  enrollTokenRetired(tokenId: string): Promise<void>;
  /** A device credential issued (or issued again with a new secret). */
  deviceIssued(deviceId: string, secret: string): Promise<void>;
  /**
   * A revoked device: cut off now. True/false: whether it was disconnected;
   * null: it was, if it was connected (the broker does not say).
   */
  deviceRevoked(deviceId: string): Promise<boolean | null>;
  /**
   * Brings the broker in line with the store at start: removes what the store no longer has
   * (revoked devices, retired tokens); returns what it lacks and cannot be given without a
   * secret the server does not keep (those need `edgefleet broker-config` or re-enrollment).
   */
  reconcile(): Promise<{ readonly removed: readonly string[]; readonly missing: readonly string[] }>;
  /** Stops what it runs of its own (the dynsec client's subscription). */
  close(): void;
}

/** No broker in this process (services a CLI command started): nothing to tell, nobody to disconnect. */
export function noBrokerCredentials(): BrokerCredentials {
  return {
    mode: 'none',
    enrollTokenCreated: async () => undefined,
    enrollTokenRetired: async () => undefined,
    deviceIssued: async () => undefined,
    deviceRevoked: async () => false,
    reconcile: async () => NOTHING,
    close: () => undefined,
  };
}

/**
 * Cuts a just-revoked device off the broker; true when it was disconnected. mosquitto's
 * dynamic security kicks a deleted client without its last will, so the loss is recorded
 * here (`markLost`) instead of by the presence sweep much later.
 */
export async function cutOffRevoked(
  credentials: BrokerCredentials,
  deviceId: string,
  presence: {
    readonly devices: Pick<DeviceRepository, 'get'>;
    readonly markLost: (deviceId: string) => Promise<boolean>;
  },
): Promise<boolean> {
  const wasOnline = (await presence.devices.get(deviceId))?.state === 'online';
  const answered = await credentials.deviceRevoked(deviceId);
  const disconnected = answered ?? wasOnline;
  if (disconnected && wasOnline && credentials.mode === 'dynsec') await presence.markLost(deviceId);
  return disconnected;
}

const NOTHING = { removed: [], missing: [] } as const;

/** The embedded broker consults the auth service itself; revocation closes the connection. */
export function embeddedBrokerCredentials(disconnect: (deviceId: string) => boolean): BrokerCredentials {
  return {
    mode: 'embedded',
    enrollTokenCreated: async () => undefined,
    enrollTokenRetired: async () => undefined,
    deviceIssued: async () => undefined,
    deviceRevoked: async (deviceId) => disconnect(deviceId),
    reconcile: async () => NOTHING,
    close: () => undefined,
  };
}

/**
 * A file-configured external broker: changes need
 * `edgefleet broker-config` and a reload; says so once a minute at most.
 */
export function fileBrokerCredentials(logger: Logger, now: () => number = Date.now): BrokerCredentials {
  let lastHint = Number.NEGATIVE_INFINITY;
  const hint = async (what: string) => {
    if (now() - lastHint < 60_000) return;
    lastHint = now();
    logger.warn(
      { change: what },
      'the external broker has no dynamic security plugin: rerun `edgefleet broker-config mosquitto` and reload it ' +
        '(kill -HUP) for this change to take effect',
    );
  };
  return {
    mode: 'file',
    enrollTokenCreated: () => hint('enrollment token created'),
    enrollTokenRetired: () => hint('enrollment token retired'),
    deviceIssued: () => hint('device enrolled'),
    deviceRevoked: async () => {
      // Nothing reaches a file-configured broker before it is reloaded: the device stays connected.
      await hint('device revoked');
      return false;
    },
    reconcile: async () => NOTHING,
    close: () => undefined,
  };
}

function createRoleCommands(role: DynsecRole): DynsecCommand[] {
  // Delete first: a role left by an earlier run may hold other ACLs; "Role not found" is fine.
  return [
    { command: 'deleteRole', rolename: role.rolename },
    { command: 'createRole', rolename: role.rolename, textname: role.textname, acls: role.acls },
  ];
}

/** Errors that only say the object was already in the wanted state. */
const HARMLESS = /not found|already exists/i;

export interface DynsecCredentialsOptions {
  readonly client: DynsecClient;
  readonly auth: AuthService;
  readonly logger: Logger;
  readonly now: () => number;
  /** Runs the `broker-token-sweep` task (used-up and expired tokens retired). */
  readonly scheduler: Scheduler;
  /** How often used-up and expired tokens are retired, ms. Default 60000. */
  readonly sweepIntervalMs?: number;
}

/** Live credentials through mosquitto's dynamic security plugin. */
export async function dynsecBrokerCredentials(options: DynsecCredentialsOptions): Promise<BrokerCredentials> {
  const { client, auth, logger: log } = options;

  async function run(what: string, commands: readonly DynsecCommand[]): Promise<void> {
    const results = await client.send(commands);
    const real = results
      .map((r, i) => [commands[i]?.command, r.error] as const)
      .filter(([, e]) => e && !HARMLESS.test(e));
    if (real.length > 0)
      throw new Error(`dynamic security plugin refused ${what}: ${real.map(([c, e]) => `${c}: ${e}`).join('; ')}`);
  }

  async function dropDevice(deviceId: string): Promise<null> {
    // Deleting the client makes the broker close its connection at once.
    await run(`revoking device ${deviceId}`, [
      { command: 'deleteClient', username: deviceId },
      { command: 'deleteRole', rolename: deviceRoleName(deviceId) },
    ]);
    return null;
  }

  /** The user names the broker has now (the plugin is the one list every replica sees). */
  async function brokerUsernames(): Promise<Set<string>> {
    const [listed] = await client.send([{ command: 'listClients', verbose: false, count: -1, offset: 0 }]);
    return new Set(((listed?.data as { clients?: unknown[] } | null)?.clients ?? []).map(String));
  }

  async function retire(tokenId: string): Promise<void> {
    await run(`retiring enrollment token ${tokenId}`, [
      { command: 'deleteClient', username: `enroll-${tokenId}` },
      { command: 'deleteRole', rolename: enrollRoleName(tokenId) },
    ]);
  }

  options.scheduler.add({
    name: 'broker-token-sweep',
    schedule: { everyMs: options.sweepIntervalMs ?? 60_000 },
    async run() {
      // From the broker's list, not from what this replica created: a token made through another
      // replica's API, used up through a third, is retired by whichever sweep runs next.
      const live = new Set((await auth.liveEnrollTokens()).map((t) => `enroll-${t.id}`));
      for (const name of await brokerUsernames()) {
        if (!name.startsWith('enroll-') || live.has(name)) continue;
        const id = name.slice('enroll-'.length);
        await retire(id).catch((err: unknown) =>
          log.warn({ err: asError(err).message, tokenId: id }, 'could not retire an enrollment token'),
        );
      }
    },
  });

  return {
    mode: 'dynsec',
    async enrollTokenCreated(tokenId, token) {
      await run(`enrollment token ${tokenId}`, [
        ...createRoleCommands(enrollRole(tokenId)),
        { command: 'deleteClient', username: `enroll-${tokenId}` },
        {
          command: 'createClient',
          username: `enroll-${tokenId}`,
          password: token,
          textname: `edgefleet enrollment token ${tokenId}`,
          roles: [{ rolename: enrollRoleName(tokenId) }],
        },
      ]);
    },
    enrollTokenRetired: retire,
    async deviceIssued(deviceId, secret) {
      // deleteClient kicks a connection still using an older secret of this device.
      await run(`device ${deviceId}`, [
        ...createRoleCommands(deviceRole(deviceId)),
        { command: 'deleteClient', username: deviceId },
        {
          command: 'createClient',
          username: deviceId,
          password: secret,
          clientid: deviceId,
          textname: `edgefleet device ${deviceId}`,
          roles: [{ rolename: deviceRoleName(deviceId) }],
        },
      ]);
    },
    deviceRevoked: dropDevice,
    async reconcile() {
      const usernames = await brokerUsernames();
      const liveTokens = new Set((await auth.liveEnrollTokens()).map((t) => `enroll-${t.id}`));
      const activeDevices = new Set((await auth.activeCredentials()).map((c) => c.deviceId));
      const removed: string[] = [];
      for (const name of usernames) {
        const stale = name.startsWith('enroll-')
          ? !liveTokens.has(name)
          : (await auth.credential(name)) !== null && !activeDevices.has(name);
        if (!stale) continue;
        if (name.startsWith('enroll-')) await retire(name.slice('enroll-'.length));
        else await dropDevice(name);
        removed.push(name);
      }
      const missing = [...liveTokens, ...activeDevices].filter((name) => !usernames.has(name));
      return { removed, missing };
    },
    close: () => client.close(),
  };
}
