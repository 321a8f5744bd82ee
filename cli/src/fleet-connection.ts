/**
 * How an admin command reaches fleet state: always through the admin API of the services that
 * own it, never by opening the store. This module is the one place that decides which API, by
 * one rule (issue 21):
 *
 * - `--api URL` or EDGEFLEET_API: that server, with `--token` (or EDGEFLEET_TOKEN);
 * - `--data-dir DIR` or EDGEFLEET_DATA_DIR (neither: `./.edgefleet`): the server running on
 *   it, found through its runtime file (URL and a process-local token), or, when none runs,
 *   the same services started in this process for the command's duration (server/src/local.ts);
 * - both an API and a data directory (by flag or environment, in any mix), or a data directory
 *   without a store, is a usage error that names which flags and variables were used.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { join } from 'node:path';
import { EdgefleetError, isEdgefleetError } from '@edgefleet/shared';
import {
  describeHolder,
  loadServerConfig,
  readRuntimeInfo,
  STORE_FILE,
  startLocalServices,
  type RuntimeInfo,
} from '@edgefleet/server';
import { createApiClient, type ApiClient } from './api-client.js';
import { createCliLogger } from './cli-logger.js';
import { usageError } from './usage.js';

/** Flags every admin command takes. */
export interface AdminFlags {
  readonly api?: string;
  readonly token?: string;
  readonly dataDir?: string;
}

/** Where a choice came from, for messages: a flag, an environment variable, or the default. */
export type TargetSource = '--api' | 'EDGEFLEET_API' | '--data-dir' | 'EDGEFLEET_DATA_DIR' | 'default';

export type AdminTarget =
  | { readonly kind: 'api'; readonly url: string; readonly token: string | undefined; readonly from: TargetSource }
  | { readonly kind: 'data-dir'; readonly dataDir: string | undefined; readonly from: TargetSource };

type Env = Readonly<Record<string, string | undefined>>;

/** A flag's value, else the variable's; an empty variable counts as unset (`EDGEFLEET_API= cmd`). */
function pick(
  flag: string | undefined,
  flagName: TargetSource,
  env: Env,
  variable: 'EDGEFLEET_API' | 'EDGEFLEET_DATA_DIR',
): { value: string; from: TargetSource } | null {
  if (flag !== undefined) return { value: flag, from: flagName };
  const fromEnv = env[variable];
  return fromEnv === undefined || fromEnv === '' ? null : { value: fromEnv, from: variable };
}

/** The rule: which fleet an admin command talks to (see the module comment). */
export function chooseTarget(flags: AdminFlags, env: Env = process.env): AdminTarget {
  const api = pick(flags.api, '--api', env, 'EDGEFLEET_API');
  const dir = pick(flags.dataDir, '--data-dir', env, 'EDGEFLEET_DATA_DIR');
  if (api && dir)
    throw usageError(
      `both a server's API (${api.from} ${api.value}) and a data directory (${dir.from} ${dir.value}) were given; ` +
        `an admin command talks to one: drop ` +
        `${dir.from === '--data-dir' ? 'the --data-dir flag' : 'EDGEFLEET_DATA_DIR'} ` +
        `to use the API, or ${api.from === '--api' ? 'the --api flag' : 'EDGEFLEET_API'} to use the data directory`,
      { api: api.from, dataDir: dir.from },
    );
  const token = flags.token ?? (env['EDGEFLEET_TOKEN'] || undefined);
  if (api) return { kind: 'api', url: api.value, token, from: api.from };
  return { kind: 'data-dir', dataDir: dir?.value, from: dir?.from ?? 'default' };
}

/** Why a data directory was used, for the missing-store message. */
function describeSource(from: TargetSource): string {
  if (from === 'default')
    return 'the default data directory, since none of --api, EDGEFLEET_API, --data-dir, EDGEFLEET_DATA_DIR was given';
  return `from ${from}`;
}

/** An open way to the fleet's API; `close` stops services this process started. */
export interface FleetConnection {
  readonly api: ApiClient;
  /** Where the commands go, for messages: the URL, or the data directory and who serves it. */
  readonly via: string;
  /** True when this process runs the services itself (no server was running on the data directory). */
  readonly local: boolean;
  /** The data directory, when the connection goes through one. */
  readonly dataDir: string | null;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** The command, e.g. `edgefleet plan`: names this process as the data directory's holder. */
  readonly command: string;
  /**
   * The command changes fleet state. Informational since issue 21: a missing store is refused
   * for readers and writers alike (only `edgefleet server` and `demo` create one).
   */
  readonly writes?: boolean;
  /**
   * The command may be the first on a new data directory and creates its store when the
   * directory was named (--data-dir or EDGEFLEET_DATA_DIR, not the default): `broker-config`,
   * which runs before the server first starts on an external broker.
   */
  readonly initializes?: boolean;
  readonly env?: Env;
}

/** How long to wait for a server that is starting to open its API. */
const STARTING_WAIT_MS = 15_000;

async function runningServerApi(dataDir: string): Promise<RuntimeInfo | null> {
  const deadline = Date.now() + STARTING_WAIT_MS;
  for (;;) {
    const info = readRuntimeInfo(dataDir);
    if (info === null || info.api.state !== 'starting' || Date.now() > deadline) return info;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function apiOfHolder(info: RuntimeInfo, dataDir: string): FleetConnection {
  if (info.api.state !== 'listening')
    throw new EdgefleetError(
      'EF_ERR_STORE_BUSY',
      info.api.state === 'off'
        ? `${describeHolder(info)} runs on ${dataDir} without its admin API (--api-port -1), so this command ` +
            'cannot reach it; restart it with an API port, or stop it'
        : `${describeHolder(info)} on ${dataDir} has not opened its admin API after ${STARTING_WAIT_MS / 1000} s; ` +
            'check its log',
      { dataDir, pid: info.pid },
    );
  const ca = info.api.certFile === null ? undefined : readFileSync(info.api.certFile);
  return {
    api: createApiClient({ url: info.api.url, token: info.api.token, ...(ca ? { ca } : {}) }),
    via: `${describeHolder(info)} at ${info.api.url}`,
    local: false,
    dataDir,
    close: async () => {},
  };
}

/**
 * A data directory without a store is a usage error, never created on the side: a typo in
 * --data-dir, or a command run in the wrong folder, would otherwise plan into (or list from)
 * an empty store of its own. `edgefleet server` (or `demo`) creates the store.
 */
function assertStore(dataDir: string, from: TargetSource, command: string): void {
  if (existsSync(join(dataDir, STORE_FILE)) || readRuntimeInfo(dataDir) !== null) return;
  throw usageError(
    `no edgefleet store in ${dataDir} (${describeSource(from)}), so \`${command}\` has no fleet to work on. ` +
      'Give --api URL --token T (or export EDGEFLEET_API and EDGEFLEET_TOKEN) for a server anywhere, or ' +
      '--data-dir DIR of a server on this host; `edgefleet server --data-dir DIR` creates a store',
    { dataDir, from },
  );
}

/** Opens the connection `chooseTarget` picks. */
export async function connectFleet(flags: AdminFlags, options: ConnectOptions): Promise<FleetConnection> {
  const env = options.env ?? process.env;
  const target = chooseTarget(flags, env);
  if (target.kind === 'api')
    return {
      api: createApiClient({ url: target.url, token: target.token }),
      via: target.url,
      local: false,
      dataDir: null,
      close: async () => {},
    };
  const config = loadServerConfig({ env, flags: { dataDir: target.dataDir } });
  const dataDir = config.dataDir;
  const create = options.initializes === true && target.from !== 'default';
  if (!create) assertStore(dataDir, target.from, options.command);
  // Twice at most: a server may claim the directory between our look and our own claim.
  for (let attempt = 0; ; attempt += 1) {
    const holder = await runningServerApi(dataDir);
    if (holder) return apiOfHolder(holder, dataDir);
    try {
      const logger = createCliLogger('warn', process.stderr);
      const local = await startLocalServices(config, { command: options.command, create, logger });
      return {
        api: createApiClient({ url: local.apiUrl, token: local.token }),
        via: `${dataDir} (no server running; services started by this command)`,
        local: true,
        dataDir,
        close: () => local.close(),
      };
    } catch (err: unknown) {
      if (attempt === 0 && isEdgefleetError(err, 'EF_ERR_STORE_BUSY')) continue;
      throw err;
    }
  }
}

/** Runs `fn` with a connection and closes it afterwards, whatever happens. */
export async function withFleet<T>(
  flags: AdminFlags,
  options: ConnectOptions,
  fn: (api: ApiClient, connection: FleetConnection) => Promise<T>,
): Promise<T> {
  const connection = await connectFleet(flags, options);
  try {
    return await fn(connection.api, connection);
  } finally {
    await connection.close();
  }
}

/** Default admin API URL shown in help texts. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/** Adds `--api`, `--token` and `--data-dir` to an admin command. */
export function addAdminFlags(command: Command): Command {
  return command
    .option('--api <url>', 'admin API of a server anywhere (env EDGEFLEET_API), instead of a data directory')
    .option('--token <token>', 'admin token for --api (env EDGEFLEET_TOKEN); create one with `edgefleet token create`')
    .option(
      '--data-dir <dir>',
      'data directory on this host (default ./.edgefleet, env EDGEFLEET_DATA_DIR): its running server, or the ' +
        'services started here when none runs',
    );
}
