/**
 * The services on a data directory, started by a CLI command because no server runs there:
 * the same services (services.ts) and the same admin API as the server's, without a broker,
 * on a loopback port only this host can reach, for as long as the command runs. The command
 * is then an API client like any other, and a second command started meanwhile finds this
 * one's API in the runtime file, so there is still one writer. What needs devices (a rollout's
 * manifests, an abort's rollbacks) is recorded and carried out by the server when it runs.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EdgefleetError, systemClock, type Clock } from '@edgefleet/shared';
import { createApiServer, type ApiServer } from './api/app.js';
import { createMetricsRegistry } from './api/metrics.js';
import { mosquittoCredentials } from './auth/broker-config.js';
import { noBrokerCredentials } from './auth/broker-credentials.js';
import { generateSecret } from './auth/secrets.js';
import { createAuthService } from './auth/service.js';
import type { ServerConfig } from './config/schema.js';
import { createEventBus } from './events/bus.js';
import type { Logger } from './log/logger.js';
import { claimDataDir, type DataDirClaim } from './runtime-file.js';
import { createFleetServices, type FleetServices } from './services.js';
import type { FleetStore } from './store/index.js';
import { openFleetStore } from './store/open.js';
import { STORE_FILE } from './store/sqlite/open.js';

export interface LocalServicesOptions {
  /** Names the holder in the runtime file and in "data directory in use" messages, e.g. `edgefleet plan`. */
  readonly command: string;
  /** Create the data directory and store when missing (commands that write); false refuses a missing store. */
  readonly create: boolean;
  readonly logger: Logger;
  readonly clock?: Clock;
}

export interface LocalServices {
  /** `http://127.0.0.1:<port>` */
  readonly apiUrl: string;
  /** Admin token valid in this process only. */
  readonly token: string;
  /** Stops the API (waiting for requests in flight), the services and the store, and releases the data directory. */
  close(): Promise<void>;
}

export async function startLocalServices(config: ServerConfig, options: LocalServicesOptions): Promise<LocalServices> {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const dir = resolve(config.dataDir);
  const log = options.logger;
  if (config.store === null && !options.create && !existsSync(join(dir, STORE_FILE)))
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `no store yet at ${join(dir, STORE_FILE)}; start \`edgefleet server\` (or \`edgefleet demo\`) with this ` +
        `--data-dir ` +
        'first, or check --data-dir / EDGEFLEET_DATA_DIR',
      { dataDir: dir },
    );
  const claim = claimDataDir(dir, { kind: 'cli', command: options.command, now: now() });
  const undo: Array<() => Promise<unknown> | unknown> = [() => claim.release()];
  try {
    const store = await openFleetStore({ store: config.store, dataDir: dir });
    undo.unshift(() => store.close());
    const token = `efl_${generateSecret()}`;
    const { services, api } = compose(config, store, token, clock, log);
    // Requests in flight finish first, then the services write what they buffer, then the store closes.
    undo.unshift(
      () => api.close(),
      () => services.stop(),
    );
    const listening = await api.listen(0, '127.0.0.1');
    publishApi(claim, listening.url, token);
    log.debug({ dataDir: dir, apiUrl: listening.url }, 'services started on the data directory');
    let closed: Promise<void> | null = null;
    return {
      apiUrl: listening.url,
      token,
      close: () => (closed ??= runAll(undo, log)),
    };
  } catch (err: unknown) {
    await runAll(undo, log);
    throw err;
  }
}

function compose(
  config: ServerConfig,
  store: FleetStore,
  token: string,
  clock: Clock,
  log: Logger,
): { services: FleetServices; api: ApiServer } {
  const now = () => clock.now();
  const events = createEventBus({ now });
  const metrics = createMetricsRegistry((err) => log.warn({ err }, 'metrics collector failed'));
  const auth = createAuthService({ repo: store.repos.auth, now, events, localToken: token });
  const services = createFleetServices({
    repos: store.repos,
    auth,
    dataDir: config.sharedDir ?? config.dataDir,
    clock,
    logger: log,
    events,
    metrics,
  });
  const startedAt = now();
  const api = createApiServer(
    {
      ...services,
      events,
      metrics,
      logger: log.child({ component: 'api' }),
      now,
      version: '0.1.0',
      startedAt,
      // No broker here: the store is the only thing to be ready.
      readiness: () => ({ ready: false, checks: { store: true, broker: false } }),
      // No broker here either: the server brings the broker in line when it starts (broker-credentials.ts).
      brokerCredentials: noBrokerCredentials,
      cutOff: async () => false,
      maxModelUploadBytes: config.apiMaxModelBytes,
      mosquittoCredentials: () =>
        mosquittoCredentials(services.auth, {
          dataDir: config.dataDir,
          sharedDir: config.sharedDir,
          maxPayloadBytes: config.maxPayloadBytes,
        }),
    },
    // Always with tokens: other processes on this host may reach a loopback port too.
    { enforceAuth: true, rateLimit: { burst: config.auth.apiBurst, ratePerS: config.auth.apiRatePerS } },
  );
  return { services, api };
}

function publishApi(claim: DataDirClaim, url: string, token: string): void {
  claim.publish({ state: 'listening', url, token, certFile: null });
}

async function runAll(steps: ReadonlyArray<() => Promise<unknown> | unknown>, log: Logger): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err: unknown) {
      log.warn({ err }, 'local services did not stop cleanly');
    }
  }
}
