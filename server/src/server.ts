import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENROLL_REQUEST_FILTER, parseEnrollTopic } from '@edgefleet/shared';
import type { ServerConfig } from './config/schema.js';
import { createApiServer, type ApiServer } from './api/app.js';
import { resolveConsoleDir } from './api/console.js';
import { coreMetrics, createMeteredPlanner, mqttTrafficMetrics } from './api/collectors.js';
import { createLabelledCounter, createMetricsRegistry, type MetricsRegistry } from './api/metrics.js';
import { createBrokerAccess } from './auth/broker-access.js';
import { createEnrollHandler, type EnrollHandler } from './auth/enroll-handler.js';
import { createAuthService, isReservedDeviceId, SERVER_USERNAME, type AuthService } from './auth/service.js';
import { loadTlsMaterial, type TlsMaterial } from './auth/tls.js';
import { createEventBus, type EventBus } from './events/bus.js';
import { createBrokerClient, type BrokerClient, type MessageInfo, type MqttTraffic } from './broker/client.js';
import { createInboundRouter, type InboundRouter } from './broker/inbound.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { createLogger, redactUrl, type Logger } from './log/logger.js';
import { openStore, type Store } from './store/db.js';
import { createTelemetryService, type TelemetryService } from './telemetry/telemetry-service.js';
import { createPresenceService, PRESENCE_FILTERS, type PresenceService } from './registry/presence.js';
import { createRejectionCounter, type RejectionCounter } from './registry/rejections.js';
import { createDeployService, type DeployService, type DeployServiceOptions } from './deploy/deploy-service.js';
import { createServerControl, type ServerControl, type ServerControlOptions } from './control/server-control.js';
import type { Planner } from './plan/planner.js';

export interface CreateServerOptions {
  /** Logger; default JSON to stdout at `config.log.level`. */
  readonly logger?: Logger;
  /** Injected clock, ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Deployer settings: evaluation tick (0 = tests call `deploy().rollouts.tick`), download slots, HTTP route. */
  readonly deploy?: Pick<DeployServiceOptions, 'tickIntervalMs' | 'slots' | 'http' | 'random'>;
  /** edgefleet version for /health and OpenAPI. Default `0.1.0`. */
  readonly version?: string;
  /**
   * Control loop extras: a golden-set source, and `cron: false` to start no timer (callers
   * drive `control().loop.reconcileOnce(now)`, as virtual-clock scenarios do; breach events
   * still wake it). Policy and tick come from `config.control`.
   */
  readonly control?: Pick<ServerControlOptions, 'goldenFor'> & { readonly cron?: boolean };
  /** Planner settings (timed runs per variant measurement; default the planner's 50). */
  readonly planner?: { readonly timedRuns?: number };
  /** Telemetry batching: messages per transaction and longest wait in ms (0: only `telemetry().flush()` and full batches write). */
  readonly telemetry?: { readonly batchSize?: number; readonly flushIntervalMs?: number };
}

/** File in the data directory holding the server's MQTT password for an external broker (written by `edgefleet broker-config`). */
export const EXTERNAL_BROKER_SECRET_FILE = 'mqtt-server.secret';
/** Where the deployment keyring publishes the public keys agents should trust (one base64 key per line). */
const TRUSTED_KEYS_FILE = join('keys', 'trusted-keys.txt');

/** What `start()` resolves to. */
export interface ServerAddress {
  /** URL agents connect to (the embedded broker on loopback, or the external broker). */
  readonly brokerUrl: string;
  /** `embedded` or `external`. */
  readonly brokerMode: 'embedded' | 'external';
  /** Port of the embedded broker, or null in external mode. */
  readonly port: number | null;
  /** Base URL of the admin API on loopback, or null when it is off (`apiPort: -1`). */
  readonly apiUrl: string | null;
  /** Port the admin API listens on, or null. */
  readonly apiPort: number | null;
  /** The web console (`<apiUrl>/ui/`), or null when the API is off or the console is not built. */
  readonly consoleUrl: string | null;
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
  /** The one inbound edge: every device message decoded and counted once (its stats show what came in). */
  inbound(): InboundRouter;
  /** The deployer (artifacts, signing keys, chunk server, rollouts); throws before `start()`. */
  deploy(): DeployService;
  /** Telemetry ingestion, series and budget status (issue 7); throws before `start()`. */
  telemetry(): TelemetryService;
  /** The closed loop (planner, control loop); null when `control.enabled` is false; throws before `start()`. */
  control(): ServerControl | null;
  /** The one planner the admin API and the control loop share; throws before `start()`. */
  planner(): Planner;
  /** Messages the server's MQTT client received and published, by channel, in total or for one device (null: none yet). */
  mqttTraffic(): MqttTraffic;
  mqttTraffic(deviceId: string): MqttTraffic | null;
  /** Fleet events (SSE source); any module may publish. */
  readonly events: EventBus;
  /** Prometheus collectors; any module may register. */
  readonly metrics: MetricsRegistry;
  /** Tokens and device credentials; throws before `start()`. */
  auth(): AuthService;
  /** The admin API (null when `apiPort` is -1); throws before `start()`. */
  api(): ApiServer | null;
}

/** Reads the server's external-broker password, if `edgefleet broker-config` wrote one. */
function externalCredential(config: ServerConfig): { username: string; password: string } | null {
  if (config.brokerUrl === null || new URL(config.brokerUrl).username !== '') return null;
  try {
    return {
      username: SERVER_USERNAME,
      password: readFileSync(join(config.dataDir, EXTERNAL_BROKER_SECRET_FILE), 'utf8').trim(),
    };
  } catch {
    return null;
  }
}

/** Public keys agents are told to trust at enrollment; empty until the deployment keyring exists. */
function readSigningKeys(dataDir: string): string[] {
  try {
    return readFileSync(join(dataDir, TRUSTED_KEYS_FILE), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}

/** Builds (without starting) the server from a parsed, frozen config. */
export function createServer(config: ServerConfig, options: CreateServerOptions = {}): EdgefleetServer {
  const now = options.now ?? Date.now;
  const log = options.logger ?? createLogger({ level: config.log.level });
  const rejections = createRejectionCounter({ logger: log.child({ component: 'rejections' }), now });
  const events = createEventBus({ now, onListenerError: (err) => log.warn({ err }, 'event listener failed') });
  const metrics = createMetricsRegistry((err) => log.warn({ err }, 'metrics collector failed'));
  const refused = createLabelledCounter(
    'edgefleet_mqtt_connects_refused_total',
    'MQTT connections the embedded broker refused, by reason.',
  );
  // The server's own broker identity: a fresh random password per process, never stored.
  const serverPassword = randomBytes(32).toString('base64url');
  let store: Store | null = null;
  let auth: AuthService | null = null;
  let tls: TlsMaterial | null = null;
  let broker: EmbeddedBroker | null = null;
  let client: BrokerClient | null = null;
  let presence: PresenceService | null = null;
  let inbound: InboundRouter | null = null;
  let enroll: EnrollHandler | null = null;
  let api: ApiServer | null = null;
  let sweepTimer: NodeJS.Timeout | null = null;
  let deploy: DeployService | null = null;
  let telemetry: TelemetryService | null = null;
  let control: ServerControl | null = null;
  let planner: Planner | null = null;
  let stopping: Promise<void> | null = null;
  const startedAt = now();

  async function connectBroker(
    service: AuthService,
  ): Promise<Omit<ServerAddress, 'apiUrl' | 'apiPort' | 'consoleUrl'>> {
    if (config.brokerUrl === null) {
      broker = await startEmbeddedBroker({
        port: config.port,
        host: config.host,
        drainTimeoutMs: config.drainTimeoutMs,
        maxPayloadBytes: config.maxPayloadBytes,
        connections: config.connections,
        logger: log.child({ component: 'broker' }),
        onReject: (r) => rejections.record(r),
        access: createBrokerAccess({
          auth: config.auth.enabled ? service : null,
          serverPassword,
          maxPayloadBytes: config.maxPayloadBytes,
          now,
          connectLimit: { burst: config.auth.connectBurst, ratePerS: config.auth.connectRatePerS },
        }),
        onRefused: ({ clientId, reason }) => {
          refused.inc({ reason });
          events.publish({ type: 'broker.refused', clientId: clientId.slice(0, 128), reason });
        },
        ...(tls ? { tls } : {}),
      });
      return { brokerUrl: broker.url, brokerMode: 'embedded', port: broker.port };
    }
    return { brokerUrl: config.brokerUrl, brokerMode: 'external', port: null };
  }

  /** Routes each inbound message: enrollment requests to the enroll handler, device topics to the inbound router. */
  function handleMessage(topic: string, payload: Buffer, info: MessageInfo): void {
    if (parseEnrollTopic(topic)) {
      enroll?.handleMessage(topic, payload);
      return;
    }
    inbound?.handleMessage(topic, payload, info);
  }

  async function startApi(
    service: AuthService,
    address: Omit<ServerAddress, 'apiUrl' | 'apiPort' | 'consoleUrl'>,
  ): Promise<ServerAddress> {
    if (config.apiPort < 0) return { ...address, apiUrl: null, apiPort: null, consoleUrl: null };
    const consoleDir = resolveConsoleDir(config.consoleDir);
    const openStore = store as Store;
    api = createApiServer(
      {
        store: openStore,
        auth: service,
        events,
        metrics,
        logger: log.child({ component: 'api' }),
        now,
        version: options.version ?? '0.1.0',
        startedAt,
        readiness: () => {
          const checks = { store: store !== null, broker: client?.connected ?? false };
          return { ready: checks.store && checks.broker, checks };
        },
        disconnectDevice: (deviceId) => broker?.disconnect(deviceId) ?? false,
        dataDir: config.dataDir,
        maxModelUploadBytes: config.apiMaxModelBytes,
        deploy: () => {
          if (!deploy) throw new Error('deployer not started');
          return deploy;
        },
        telemetry: () => {
          if (!telemetry) throw new Error('telemetry not started');
          return telemetry;
        },
        planner: () => {
          if (!planner) throw new Error('planner not started');
          return planner;
        },
      },
      {
        enforceAuth: config.auth.enabled,
        consoleDir,
        rateLimit: { burst: config.auth.apiBurst, ratePerS: config.auth.apiRatePerS },
        ...(tls ? { tls } : {}),
      },
    );
    const listening = await api.listen(config.apiPort, config.apiHost);
    const consoleUrl = consoleDir === null ? null : `${listening.url}/ui/`;
    log.info(
      { apiUrl: listening.url, consoleUrl, tls: tls !== null, auth: config.auth.enabled },
      'admin API listening',
    );
    if (consoleDir === null) log.warn('web console not built (npm run build); /ui answers EF_ERR_CONSOLE_NOT_BUILT');
    return { ...address, apiUrl: listening.url, apiPort: listening.port, consoleUrl };
  }

  async function start(): Promise<ServerAddress> {
    if (store) throw new Error('server already started');
    store = openStore({ dataDir: config.dataDir });
    log.info({ path: store.path, schemaVersion: store.schemaVersion() }, 'store open');
    // One planner for the API and the loop, so every variant build lands in one histogram.
    planner = createMeteredPlanner({
      store,
      dataDir: config.dataDir,
      now,
      metrics,
      ...(options.planner?.timedRuns === undefined ? {} : { timedRuns: options.planner.timedRuns }),
    });
    if (config.tls.certFile !== null && config.tls.keyFile !== null)
      tls = loadTlsMaterial(config.tls.certFile, config.tls.keyFile);
    const service = createAuthService({ repo: store.auth, now, events });
    auth = service;
    if (!config.auth.enabled)
      log.warn(
        'auth is OFF (auth.enabled=false): any client may connect and call the API; never do this outside tests and local demos',
      );
    const address = await connectBroker(service);
    inbound = createInboundRouter({
      logger: log.child({ component: 'inbound' }),
      maxPayloadBytes: config.maxPayloadBytes,
      onReject: (r) => rejections.record(r),
      // An external broker's ACL patterns give enrollment users a device subtree of their own name; it is never a device.
      screen: (deviceId) =>
        isReservedDeviceId(deviceId)
          ? { reason: 'forbidden', detail: `device id ${deviceId} is reserved`, deviceId }
          : null,
    });
    presence = createPresenceService({
      devices: store.devices,
      inbound,
      now,
      logger: log.child({ component: 'presence' }),
      offlineAfterMs: config.presence.offlineAfterMs,
      // With auth off there are no credentials: the hello's class is taken as before.
      ...(config.auth.enabled
        ? {
            credentialClass: (deviceId: string) => service.credential(deviceId)?.deviceClass,
            bindClass: (deviceId: string, deviceClass: string) => {
              service.bindDeviceClass(deviceId, deviceClass);
            },
          }
        : {}),
      onReject: (r) => rejections.record(r),
      onPresence: (deviceId, state, reason) =>
        events.publish(
          state === 'online' ? { type: 'device.online', deviceId } : { type: 'device.offline', deviceId, reason },
        ),
    });
    const external = externalCredential(config);
    client = await createBrokerClient({
      url: address.brokerUrl,
      // Unique per process so two servers on one external broker never take over each other.
      clientId: `edgefleet-server-${randomBytes(4).toString('hex')}`,
      logger: log.child({ component: 'broker-client' }),
      ...(broker ? { username: SERVER_USERNAME, password: serverPassword } : (external ?? {})),
      ...(broker && tls ? { pinnedCert: tls.cert } : {}),
    });
    const publisher = client;
    enroll = createEnrollHandler({
      auth: service,
      rejections,
      now,
      logger: log.child({ component: 'enroll' }),
      publish: (topic, payload) => publisher.publish(topic, payload, { qos: 1, retain: false }),
      signingKeys: () => readSigningKeys(config.dataDir),
    });
    const enrollCounts = enroll.counts;
    metrics.register(
      coreMetrics({
        devices: store.devices,
        rejections: rejections.counts,
        refused,
        enrollments: enrollCounts,
        events,
      }),
    );
    metrics.register(mqttTrafficMetrics(client));
    client.onMessage(handleMessage);
    await client.subscribe([...PRESENCE_FILTERS, ENROLL_REQUEST_FILTER], 1);
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
      store,
      client,
      inbound,
      dataDir: config.dataDir,
      now,
      logger: log.child({ component: 'deploy' }),
      ...options.deploy,
      // Rollout progress goes out on the fleet event bus, so `GET /v1/events` streams it.
      onEvent: (event) => events.publish(event),
    });
    await deploy.start();
    telemetry = createTelemetryService({
      store,
      client,
      inbound,
      now,
      logger: log.child({ component: 'telemetry' }),
      onReject: (r) => rejections.record(r),
      ...options.telemetry,
    });
    await telemetry.start();
    if (config.control.enabled) {
      const { cron, ...controlExtras } = options.control ?? {};
      control = createServerControl({
        store,
        rollouts: deploy.rollouts,
        telemetry,
        dataDir: config.dataDir,
        policy: config.control.policy,
        planner,
        tickSeconds: config.control.tickSeconds,
        logger: log.child({ component: 'control' }),
        now,
        events,
        ...controlExtras,
      });
      control.start({ cron: cron !== false });
    }
    const full = await startApi(service, address);
    log.info(
      { brokerMode: address.brokerMode, brokerUrl: redactUrl(address.brokerUrl), dataDir: config.dataDir },
      'edgefleet server started',
    );
    return full;
  }

  async function shutdown(): Promise<void> {
    if (sweepTimer) clearInterval(sweepTimer);
    broker?.stopAccepting();
    // Before the deployer and store go: a reconcile in flight finishes on an open store.
    await control?.stop().catch((err: unknown) => log.warn({ err }, 'control loop did not stop cleanly'));
    await deploy?.stop().catch((err: unknown) => log.warn({ err }, 'deployer did not stop cleanly'));
    // Writes the last telemetry batch while the store is still open.
    try {
      telemetry?.stop();
    } catch (err: unknown) {
      log.warn({ err }, 'telemetry did not stop cleanly');
    }
    await api?.close().catch((err: unknown) => log.warn({ err }, 'admin API did not close cleanly'));
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
    inbound() {
      if (!inbound) throw new Error('server not started');
      return inbound;
    },
    deploy() {
      if (!deploy) throw new Error('server not started');
      return deploy;
    },
    telemetry() {
      if (!telemetry) throw new Error('server not started');
      return telemetry;
    },
    control() {
      if (!store) throw new Error('server not started');
      return control;
    },
    planner() {
      if (!planner) throw new Error('server not started');
      return planner;
    },
    mqttTraffic: ((deviceId?: string) =>
      deviceId === undefined
        ? (client?.traffic() ?? { received: {}, published: {} })
        : (client?.deviceTraffic(deviceId) ?? null)) as EdgefleetServer['mqttTraffic'],
    events,
    metrics,
    auth() {
      if (!auth) throw new Error('server not started');
      return auth;
    },
    api() {
      if (!store) throw new Error('server not started');
      return api;
    },
  };
}
