/**
 * How an admin command reaches fleet state: always through the admin API of the services that
 * own it, never by opening the store. This module is the one place that decides which API:
 *
 * - `--api URL` (or EDGEFLEET_API when no --data-dir is given): that server, with `--token`
 *   (or EDGEFLEET_TOKEN);
 * - otherwise the data directory (`--data-dir`, EDGEFLEET_DATA_DIR, default `./.edgefleet`):
 *   the server running on it, found through its runtime file (URL and a process-local token),
 *   or, when none runs, the same services started in this process for the command's duration
 *   (server/src/local.ts).
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { EdgefleetError, isEdgefleetError } from '@edgefleet/shared';
import {
  describeHolder,
  loadServerConfig,
  readRuntimeInfo,
  startLocalServices,
  type RuntimeInfo,
} from '@edgefleet/server';
import { createApiClient, type ApiClient } from './api-client.js';
import { createCliLogger } from './cli-logger.js';

/** Flags every admin command takes. */
export interface AdminFlags {
  readonly api?: string;
  readonly token?: string;
  readonly dataDir?: string;
}

export type AdminTarget =
  | { readonly kind: 'api'; readonly url: string; readonly token: string | undefined }
  | { readonly kind: 'data-dir'; readonly dataDir: string | undefined };

type Env = Readonly<Record<string, string | undefined>>;

/** The rule: which fleet an admin command talks to (see the module comment). */
export function chooseTarget(flags: AdminFlags, env: Env = process.env): AdminTarget {
  if (flags.api !== undefined && flags.dataDir !== undefined)
    throw new InvalidArgumentError(
      'give --api URL (a server anywhere) or --data-dir DIR (a data directory on this host), not both',
    );
  const token = flags.token ?? env['EDGEFLEET_TOKEN'];
  if (flags.api !== undefined) return { kind: 'api', url: flags.api, token };
  if (flags.dataDir === undefined && env['EDGEFLEET_API'] !== undefined)
    return { kind: 'api', url: env['EDGEFLEET_API'], token };
  return { kind: 'data-dir', dataDir: flags.dataDir };
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
  /** The command changes fleet state: create the data directory when it is missing. */
  readonly writes: boolean;
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
  // Twice at most: a server may claim the directory between our look and our own claim.
  for (let attempt = 0; ; attempt += 1) {
    const holder = await runningServerApi(dataDir);
    if (holder) return apiOfHolder(holder, dataDir);
    try {
      const logger = createCliLogger('warn', process.stderr);
      const local = await startLocalServices(config, { command: options.command, create: options.writes, logger });
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
