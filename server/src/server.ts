import { randomBytes } from 'node:crypto';
import type { ServerConfig } from './config/schema.js';
import { createBrokerClient, type BrokerClient } from './broker/client.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { createLogger, redactUrl, type Logger } from './log/logger.js';
import { openStore, type Store } from './store/db.js';
import { createPresenceService, PRESENCE_FILTERS, type PresenceService } from './registry/presence.js';
import { createRejectionCounter, type RejectionCounter } from './registry/rejections.js';
import { createDeployService, type DeployService, type DeployServiceOptions } from './deploy/deploy-service.js';

export interface CreateServerOptions {
  /** Logger; default JSON to stdout at `config.log.level`. */
  readonly logger?: Logger;
  /** Injected clock, ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Deployer settings: evaluation tick (0 = tests call `deploy().rollouts.tick`), download slots, HTTP route. */
  readonly deploy?: Pick<DeployServiceOptions, 'tickIntervalMs' | 'slots' | 'http' | 'random'>;
}

/** What `start()` resolves to. */
export interface ServerAddress {
  /** URL agents connect to (the embedded broker on loopback, or the external broker). */
  readonly brokerUrl: string;
  /** `embedded` or `external`. */
  readonly brokerMode: 'embedded' | 'external';
  /** Port of the embedded broker, or null in external mode. */
  readonly port: number | null;
}

/** The control server. Later issues add the API, deployer and control loop. */
export interface EdgefleetServer {
  readonly config: ServerConfig;
  /** Opens the store, starts or connects to the broker, subscribes. Call once. */
  start(): Promise<ServerAddress>;
  /**
   * Graceful stop: stop accepting (broker listener and subscriptions), flush and close the
   * store, close the broker. Idempotent; safe after a failed start.
   */
  stop(): Promise<void>;
  /** The store; throws before `start()`. */
  store(): Store;
  readonly rejections: RejectionCounter;
  /** Presence ingestion, exposed so tests can run the sweep with their own clock. */
  presence(): PresenceService;
  /** The deployer (artifacts, signing keys, chunk server, rollouts); throws before `start()`. */
  deploy(): DeployService;
}

/** Builds (without starting) the server from a parsed, frozen config. */
export function createServer(config: ServerConfig, options: CreateServerOptions = {}): EdgefleetServer {
  const now = options.now ?? Date.now;
  const log = options.logger ?? createLogger({ level: config.log.level });
  const rejections = createRejectionCounter({ logger: log.child({ component: 'rejections' }), now });
  let store: Store | null = null;
  let broker: EmbeddedBroker | null = null;
  let client: BrokerClient | null = null;
  let presence: PresenceService | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let deploy: DeployService | null = null;
  let stopping: Promise<void> | null = null;

  async function connectBroker(): Promise<ServerAddress> {
    if (config.brokerUrl === null) {
      broker = await startEmbeddedBroker({
        port: config.port, host: config.host, drainTimeoutMs: config.drainTimeoutMs, maxPayloadBytes: config.maxPayloadBytes,
        logger: log.child({ component: 'broker' }),
        onReject: (r) => rejections.record(r),
      });
      return { brokerUrl: broker.url, brokerMode: 'embedded', port: broker.port };
    }
    return { brokerUrl: config.brokerUrl, brokerMode: 'external', port: null };
  }

  async function start(): Promise<ServerAddress> {
    if (store) throw new Error('server already started');
    store = openStore({ dataDir: config.dataDir });
    log.info({ path: store.path, schemaVersion: store.schemaVersion() }, 'store open');
    const address = await connectBroker();
    presence = createPresenceService({
      devices: store.devices, rejections, now, logger: log.child({ component: 'presence' }),
      maxPayloadBytes: config.maxPayloadBytes, offlineAfterMs: config.presence.offlineAfterMs,
    });
    const handle = presence.handleMessage;
    client = await createBrokerClient({
      url: address.brokerUrl,
      // Unique per process so two servers on one external broker never take over each other.
      clientId: `edgefleet-server-${randomBytes(4).toString('hex')}`,
      logger: log.child({ component: 'broker-client' }),
    });
    client.onMessage(handle);
    await client.subscribe(PRESENCE_FILTERS, 1);
    const sweep = presence.sweep;
    sweepTimer = setInterval(() => {
      try {
        sweep();
      } catch (err: unknown) {
        log.error({ err }, 'presence sweep failed');
      }
    }, config.presence.sweepIntervalMs);
    sweepTimer.unref();
    deploy = createDeployService({
      store, client, dataDir: config.dataDir, now, logger: log.child({ component: 'deploy' }), maxPayloadBytes: config.maxPayloadBytes,
      onReject: (r) => rejections.record(r), ...options.deploy,
    });
    await deploy.start();
    log.info({ brokerMode: address.brokerMode, brokerUrl: redactUrl(address.brokerUrl), dataDir: config.dataDir }, 'edgefleet server started');
    return address;
  }

  async function shutdown(): Promise<void> {
    if (sweepTimer) clearInterval(sweepTimer);
    broker?.stopAccepting();
    await deploy?.stop().catch((err: unknown) => log.warn({ err }, 'deployer did not stop cleanly'));
    // Stop taking messages before the store closes so nothing writes to it meanwhile.
    await client?.close().catch((err: unknown) => log.warn({ err }, 'broker client did not close cleanly'));
    store?.close();
    await broker?.close();
    log.info('edgefleet server stopped');
  }

  return {
    config,
    start,
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
    store() {
      if (!store) throw new Error('server not started');
      return store;
    },
    rejections,
    presence() {
      if (!presence) throw new Error('server not started');
      return presence;
    },
    deploy() {
      if (!deploy) throw new Error('server not started');
      return deploy;
    },
  };
}
