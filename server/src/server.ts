/**
 * The control server, composed: the data-directory claim and store, the services
 * (services.ts), the broker (embedded aedes or an external one) and the server's client on it,
 * presence and enrollment, the control loop, the one scheduler, and the admin API. This file
 * only wires; every behaviour lives in the modules it names.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ENROLL_REQUEST_FILTER,
  parseEnrollTopic,
  stripUndefined,
  systemClock,
  type Clock,
  type GoldenSet,
} from '@edgefleet/shared';
import { coreMetrics, mqttTrafficMetrics, schedulerMetrics } from './api/collectors.js';
import { createApiServer, type ApiServer } from './api/app.js';
import { resolveConsoleDir } from './api/console.js';
import { createLabelledCounter, createMetricsRegistry, type MetricsRegistry } from './api/metrics.js';
import { createBrokerAccess } from './auth/broker-access.js';
import { EXTERNAL_BROKER_SECRET_FILE, mosquittoCredentials, serverSecretDir } from './auth/broker-config.js';
import { setupBrokerCredentials } from './auth/broker-credential-setup.js';
import { cutOffRevoked, type BrokerCredentials } from './auth/broker-credentials.js';
import { createEnrollHandler, type EnrollHandler } from './auth/enroll-handler.js';
import { generateSecret } from './auth/secrets.js';
import { createAuthService, isReservedDeviceId, SERVER_USERNAME, type AuthService } from './auth/service.js';
import { loadTlsMaterial, type TlsMaterial } from './auth/tls.js';
import { createBrokerClient, type BrokerClient, type MessageInfo, type MqttTraffic } from './broker/client.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { createInboundRouter, type InboundRouter } from './broker/inbound.js';
import type { ServerConfig } from './config/schema.js';
import { createServerControl, type ServerControl } from './control/server-control.js';
import type { DeployService, DeployServiceOptions } from './deploy/deploy-service.js';
import { createEventBus, type EventBus } from './events/bus.js';
import { createLogger, redactUrl, type Logger } from './log/logger.js';
import type { Planner } from './plan/planner.js';
import type { SearchRunner } from './plan/search-jobs.js';
import { runSearchInWorker } from './plan/search-runner.js';
import { createPresenceService, PRESENCE_FILTERS, type PresenceService } from './registry/presence.js';
import { createRejectionCounter, type RejectionCounter } from './registry/rejections.js';
import { claimDataDir, type DataDirClaim } from './runtime-file.js';
import { createScheduler, type Scheduler } from './schedule/scheduler.js';
import { createFleetServices, type FleetServices } from './services.js';
import type { FleetStore, Repositories } from './store/index.js';
import { startVariantQueue, type VariantQueue } from './plan/variant-queue.js';
import { createLocalOwnership, createPgOwnership, type Ownership } from './schedule/ownership.js';
import { openFleetStore, postgresOf } from './store/open.js';
import type { TelemetryService } from './telemetry/telemetry-service.js';

export interface CreateServerOptions {
  /** Logger; default JSON to stdout at `config.log.level`. */
  readonly logger?: Logger;
  /**
   * Time for timestamps and for every scheduled task (presence sweep, rollout evaluation,
   * telemetry retention, control tick, telemetry batching). Default the system clock; a test
   * injects a virtual clock and runs the tasks by advancing it.
   */
  readonly clock?: Clock;
  /** Random source for rollout ids. Default Math.random. */
  readonly random?: () => number;
  /**
   * Deployer settings: download slots, the HTTP artifact route, how often rollouts are
   * evaluated and classes checked for members behind their desired state.
   */
  readonly deploy?: Pick<DeployServiceOptions, 'slots' | 'http' | 'evaluateEveryMs' | 'desiredEveryMs'>;
  /** edgefleet version for /health and OpenAPI. Default `0.1.0`. */
  readonly version?: string;
  /**
   * Golden set for a loop rollout; default the one of the class's latest rollout. Policy and tick come from
   * `config.control`.
   */
  readonly control?: { readonly goldenFor?: (deviceClass: string) => Promise<GoldenSet> };
  /**
   * Runs hardware-aware searches (`POST /v1/searches`, the loop's `search` action). Default: the
   * search in a worker thread (`runSearchInWorker`); tests inject their own.
   */
  readonly searchRunner?: SearchRunner;
  /** Planner settings (timed runs per variant measurement; default the planner's 50). */
  readonly planner?: { readonly timedRuns?: number };
  /** Telemetry batching: messages per batch and the longest wait in ms (> 0). */
  readonly telemetry?: { readonly batchSize?: number; readonly flushIntervalMs?: number };
}

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

/** The control server. */
export interface EdgefleetServer {
  readonly config: ServerConfig;
  /** Claims the data directory, opens the store, starts or connects to the broker, subscribes, listens. Call once. */
  start(): Promise<ServerAddress>;
  /**
   * Graceful stop: stop accepting (broker listener and subscriptions), wait for scheduled runs,
   * flush and close the store, close the broker, release the data directory. Idempotent;
   * safe after a failed start.
   */
  stop(): Promise<void>;
  /** The repositories (for embedding and tests); throws before `start()`. */
  repos(): Repositories;
  /** The services the admin API is thin over (classes, models, planner, rollouts, …); throws before `start()`. */
  services(): FleetServices;
  readonly rejections: RejectionCounter;
  /** The one scheduler of recurring work; runs on the injected clock. */
  readonly scheduler: Scheduler;
  /** The one inbound edge: every device message decoded and counted once (its stats show what came in). */
  inbound(): InboundRouter;
  /** The deployer (artifacts, signing keys, chunk server, rollouts); throws before `start()`. */
  deploy(): DeployService;
  /** Telemetry ingestion, series and budget status; throws before `start()`. */
  telemetry(): TelemetryService;
  /** The closed loop; null when `control.enabled` is false; throws before `start()`. */
  control(): ServerControl | null;
  /** Who does once-only work here: keys this replica holds (all of them with SQLite). */
  ownership(): Ownership;
  /** The one planner the admin API and the control loop share; throws before `start()`. */
  planner(): Planner;
  /**
   * Messages the server's MQTT client received and published, by channel, in total or for one device (null: none yet).
   */
  mqttTraffic(): MqttTraffic;
  mqttTraffic(deviceId: string): MqttTraffic | null;
  /**
   * Device messages received and not yet stored: presence (hello, status, heartbeats) and telemetry,
   * and how late heartbeats arrive. A backlog or lag that keeps growing means the server is falling
   * behind its fleet.
   */
  backlog(): { readonly presence: number; readonly telemetry: number; readonly presenceLagMs: number };
  /** Fleet events (SSE source); any module may publish. */
  readonly events: EventBus;
  /** Prometheus collectors; any module may register. */
  readonly metrics: MetricsRegistry;
  /** Tokens and device credentials; throws before `start()`. */
  auth(): AuthService;
  /** The admin API (null when `apiPort` is -1); throws before `start()`. */
  api(): ApiServer | null;
  /** How the broker learns about new and revoked credentials (embedded, dynsec or file); throws before `start()`. */
  brokerCredentials(): BrokerCredentials;
}

export { EXTERNAL_BROKER_SECRET_FILE } from './auth/broker-config.js';
/** Where the deployment keyring publishes the public keys agents should trust (one base64 key per line). */
const TRUSTED_KEYS_FILE = join('keys', 'trusted-keys.txt');

/** Reads the server's external-broker password, if `edgefleet broker-config` had it created. */
function externalCredential(config: ServerConfig): { username: string; password: string } | null {
  if (config.brokerUrl === null || new URL(config.brokerUrl).username !== '') return null;
  // The shared directory first (replicas share one server user); a data directory from before it last.
  for (const dir of [serverSecretDir(config), config.dataDir]) {
    try {
      const password = readFileSync(join(dir, EXTERNAL_BROKER_SECRET_FILE), 'utf8').trim();
      return { username: SERVER_USERNAME, password };
    } catch {
      // Not there: the next place, or no credential (the broker then refuses us with a clear error).
    }
  }
  return null;
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

/** How often the owner of `variant-job-sweep` looks for builds whose worker died, ms. */
const JOB_SWEEP_MS = 1_000;

/** The MQTT 5 shared subscription group of server replicas (`$share/edgefleet/ef/v1/…`). */
export const REPLICA_SHARE_GROUP = 'edgefleet';

/** What exists only while the server runs; everything in it is created by `start()`. */
interface Running {
  claim: DataDirClaim;
  store: FleetStore;
  /** Who does once-only work: this process alone (SQLite), or whoever holds the key in Postgres (replicas). */
  ownership: Ownership;
  /** The Postgres job queue of variant builds (replicas), or null: builds run in this process. */
  jobs: VariantQueue | null;
  auth: AuthService;
  services: FleetServices | null;
  broker: EmbeddedBroker | null;
  client: BrokerClient | null;
  /** Decodes and counts every device message once, then hands it to presence, telemetry or the deployer. */
  inbound: InboundRouter;
  presence: PresenceService | null;
  enroll: EnrollHandler | null;
  credentials: BrokerCredentials | null;
  control: ServerControl | null;
  api: ApiServer | null;
  tls: TlsMaterial | null;
}

/** Builds (without starting) the server from a parsed, frozen config. */
export function createServer(config: ServerConfig, options: CreateServerOptions = {}): EdgefleetServer {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const log = options.logger ?? createLogger({ level: config.log.level });
  const rejections = createRejectionCounter({ logger: log.child({ component: 'rejections' }), now });
  const events = createEventBus({ now, onListenerError: (err) => log.warn({ err }, 'event listener failed') });
  const metrics = createMetricsRegistry((err) => log.warn({ err }, 'metrics collector failed'));
  const scheduler = createScheduler({ clock, logger: log });
  /** Models, artifacts and signing keys: the shared directory of replicas, or the data directory. */
  const filesDir = config.sharedDir ?? config.dataDir;
  const refused = createLabelledCounter(
    'edgefleet_mqtt_connects_refused_total',
    'MQTT connections the embedded broker refused, by reason.',
  );
  // The server's own broker identity: a fresh random password per process, never stored.
  const serverPassword = randomBytes(32).toString('base64url');
  // The CLI on this host finds this token in the runtime file; it is never stored either.
  const localToken = `efl_${generateSecret()}`;
  let running: Running | null = null;
  let stopping: Promise<void> | null = null;
  const startedAt = now();

  const need = (): Running => {
    if (!running) throw new Error('server not started');
    return running;
  };
  const needServices = (): FleetServices => {
    const s = need().services;
    if (!s) throw new Error('server not started');
    return s;
  };

  // Unique per process so two servers on one external broker never take over each other.
  const ownClientId = `edgefleet-server-${randomBytes(4).toString('hex')}`;

  async function connectBroker(r: Running): Promise<Omit<ServerAddress, 'apiUrl' | 'apiPort' | 'consoleUrl'>> {
    if (config.brokerUrl !== null) return { brokerUrl: config.brokerUrl, brokerMode: 'external', port: null };
    const broker = await startEmbeddedBroker({
      port: config.port,
      host: config.host,
      drainTimeoutMs: config.drainTimeoutMs,
      ownClientId,
      maxPayloadBytes: config.maxPayloadBytes,
      connections: config.connections,
      logger: log.child({ component: 'broker' }),
      onReject: (rej) => rejections.record(rej),
      access: createBrokerAccess({
        auth: config.auth.enabled ? r.auth : null,
        serverPassword,
        maxPayloadBytes: config.maxPayloadBytes,
        now,
        connectLimit: { burst: config.auth.connectBurst, ratePerS: config.auth.connectRatePerS },
      }),
      onRefused: ({ clientId, reason }) => {
        refused.inc({ reason });
        events.publish({ type: 'broker.refused', clientId: clientId.slice(0, 128), reason });
      },
      ...(r.tls ? { tls: r.tls } : {}),
    });
    r.broker = broker;
    return { brokerUrl: broker.url, brokerMode: 'embedded', port: broker.port };
  }

  async function connectClient(r: Running, brokerUrl: string): Promise<BrokerClient> {
    const external = externalCredential(config);
    return createBrokerClient({
      url: brokerUrl,
      clientId: ownClientId,
      // The embedded broker lives in this process: a PINGRESP queued behind messages this server has
      // not read yet only says it is behind, and mqtt.js then dropped the connection with everything
      // queued on it (Keepalive timeout, the presence collapse of bench:scale at ~7,000 devices).
      ...(r.broker ? { keepaliveS: 0 } : {}),
      logger: log.child({ component: 'broker-client' }),
      ...(r.broker ? { username: SERVER_USERNAME, password: serverPassword } : (external ?? {})),
      ...(r.broker && r.tls ? { pinnedCert: r.tls.cert } : {}),
      // Replicas: an external MQTT 5 broker hands each device message to one member of the group.
      ...(r.broker === null && config.store !== null ? { shareGroup: REPLICA_SHARE_GROUP } : {}),
    });
  }

  /** Routes each inbound message: enrollment requests to the enroll handler, device topics to the inbound router. */
  function handleMessage(topic: string, payload: Buffer, info: MessageInfo): void {
    const r = running;
    if (!r) return;
    if (parseEnrollTopic(topic)) {
      r.enroll?.handleMessage(topic, payload);
      return;
    }
    r.inbound.handleMessage(topic, payload, info);
  }

  /** The one inbound edge (issue 18, finding 5): decodes each device message once and counts each rejection once. */
  function createInbound(): InboundRouter {
    return createInboundRouter({
      logger: log.child({ component: 'inbound' }),
      maxPayloadBytes: config.maxPayloadBytes,
      onReject: (rej) => rejections.record(rej),
      // An external broker's ACL patterns give enrollment users a
      // device subtree of their own name; it is never a device.
      screen: (deviceId) =>
        isReservedDeviceId(deviceId)
          ? { reason: 'forbidden', detail: `device id ${deviceId} is reserved`, deviceId }
          : null,
    });
  }

  /** Presence and enrollment on the server's client; the presence sweep on the scheduler. */
  async function startIngestion(r: Running, client: BrokerClient): Promise<void> {
    const { repos } = r.store;
    const auth = r.auth;
    const presence = createPresenceService({
      devices: repos.devices,
      inbound: r.inbound,
      now,
      logger: log.child({ component: 'presence' }),
      offlineAfterMs: config.presence.offlineAfterMs,
      // With auth off there are no credentials: the hello's class is taken as before.
      ...(config.auth.enabled
        ? {
            credentialClass: async (deviceId: string) => (await auth.credential(deviceId))?.deviceClass,
            bindClass: (deviceId: string, deviceClass: string) => auth.bindDeviceClass(deviceId, deviceClass),
          }
        : {}),
      onReject: (rej) => rejections.record(rej),
      onPresence: (deviceId, state, reason) =>
        events.publish(
          state === 'online' ? { type: 'device.online', deviceId } : { type: 'device.offline', deviceId, reason },
        ),
    });
    r.presence = presence;
    scheduler.add({
      name: 'presence-sweep',
      schedule: { everyMs: config.presence.sweepIntervalMs },
      run: async () => {
        if (await r.ownership.claim('presence-sweep')) await presence.sweep();
      },
    });
    const embedded = r.broker;
    r.credentials = await setupBrokerCredentials({
      config,
      embedded: embedded ? (deviceId) => embedded.disconnect(deviceId) : null,
      client,
      auth: r.auth,
      scheduler,
      logger: log.child({ component: 'broker-credentials' }),
      now,
    });
    r.enroll = createEnrollHandler({
      broker: r.credentials,
      auth: r.auth,
      rejections,
      now,
      logger: log.child({ component: 'enroll' }),
      publish: (topic, payload) => client.publish(topic, payload, { qos: 1, retain: false }),
      signingKeys: () => readSigningKeys(filesDir),
    });
    const enrollCounts = r.enroll.counts;
    metrics.register(
      coreMetrics({
        devices: repos.devices,
        rejections: rejections.counts,
        refused,
        enrollments: enrollCounts,
        events,
      }),
    );
    metrics.register(mqttTrafficMetrics(client));
    metrics.register(schedulerMetrics(scheduler));
    client.onMessage(handleMessage);
    await client.subscribe([...PRESENCE_FILTERS, ENROLL_REQUEST_FILTER], 1);
  }

  function startControl(r: Running, services: FleetServices): void {
    if (!config.control.enabled) return;
    r.control = createServerControl({
      repos: r.store.repos,
      classes: services.classes,
      rollouts: services.rollouts,
      telemetry: services.telemetry,
      planner: services.planner,
      scheduler,
      ownership: r.ownership,
      dataDir: filesDir,
      policy: config.control.policy,
      tickSeconds: config.control.tickSeconds,
      logger: log.child({ component: 'control' }),
      now,
      events,
      ...stripUndefined({ goldenFor: options.control?.goldenFor, searches: services.searches ?? undefined }),
    });
    r.control.start();
  }

  async function startApi(
    r: Running,
    services: FleetServices,
    address: Omit<ServerAddress, 'apiUrl' | 'apiPort' | 'consoleUrl'>,
  ): Promise<ServerAddress> {
    if (config.apiPort < 0) {
      r.claim.publish({ state: 'off' });
      return { ...address, apiUrl: null, apiPort: null, consoleUrl: null };
    }
    const consoleDir = resolveConsoleDir(config.consoleDir);
    const credentials = r.credentials;
    if (!credentials) throw new Error('broker credentials not set up');
    r.api = createApiServer(
      {
        ...services,
        events,
        metrics,
        logger: log.child({ component: 'api' }),
        now,
        version: options.version ?? '0.1.0',
        startedAt,
        readiness: () => {
          const checks = { store: running !== null, broker: running?.client?.connected ?? false };
          return { ready: checks.store && checks.broker, checks };
        },
        brokerCredentials: () => credentials,
        cutOff: (deviceId) =>
          cutOffRevoked(credentials, deviceId, {
            devices: r.store.repos.devices,
            markLost: (id) => r.presence?.markLost(id) ?? Promise.resolve(false),
          }),
        maxModelUploadBytes: config.apiMaxModelBytes,
        ...(r.jobs ? { jobs: r.jobs } : {}),
        mosquittoCredentials: () =>
          mosquittoCredentials(services.auth, {
            dataDir: config.dataDir,
            sharedDir: config.sharedDir,
            maxPayloadBytes: config.maxPayloadBytes,
          }),
      },
      {
        enforceAuth: config.auth.enabled,
        consoleDir,
        rateLimit: { burst: config.auth.apiBurst, ratePerS: config.auth.apiRatePerS },
        ...(r.tls ? { tls: r.tls } : {}),
      },
    );
    const listening = await r.api.listen(config.apiPort, config.apiHost);
    r.claim.publish({ state: 'listening', url: listening.url, token: localToken, certFile: config.tls.certFile });
    const consoleUrl = consoleDir === null ? null : `${listening.url}/ui/`;
    log.info(
      { apiUrl: listening.url, consoleUrl, tls: r.tls !== null, auth: config.auth.enabled },
      'admin API listening',
    );
    if (consoleDir === null) log.warn('web console not built (npm run build); /ui answers EF_ERR_CONSOLE_NOT_BUILT');
    return { ...address, apiUrl: listening.url, apiPort: listening.port, consoleUrl };
  }

  async function start(): Promise<ServerAddress> {
    if (running) throw new Error('server already started');
    const claim = claimDataDir(config.dataDir, { kind: 'server', command: 'edgefleet server', now: now() });
    let store: FleetStore;
    try {
      store = await openFleetStore({
        store: config.store,
        dataDir: config.dataDir,
        onIdleError: (err) => log.warn({ err }, 'an idle store connection failed; the pool reconnects'),
      });
    } catch (err: unknown) {
      claim.release();
      throw err;
    }
    const r: Running = {
      claim,
      store,
      ownership:
        postgresOf(store) !== null && config.store !== null
          ? createPgOwnership({ connectionString: config.store, logger: log })
          : createLocalOwnership(),
      jobs: null,
      auth: createAuthService({ repo: store.repos.auth, now, events, localToken }),
      services: null,
      broker: null,
      client: null,
      inbound: createInbound(),
      presence: null,
      enroll: null,
      credentials: null,
      control: null,
      api: null,
      tls:
        config.tls.certFile !== null && config.tls.keyFile !== null
          ? loadTlsMaterial(config.tls.certFile, config.tls.keyFile)
          : null,
    };
    running = r;
    log.info({ store: store.location, schemaVersion: await store.schemaVersion() }, 'store open');
    if (!config.auth.enabled)
      log.warn(
        'auth is OFF (auth.enabled=false): any client may connect and call the API; never do this outside tests and ' +
          'local demos',
      );
    if (config.store !== null) {
      // Variant builds go through the queue: this replica builds too, as may any `edgefleet worker`.
      // Whoever finishes a build stores its variant row, so it lands even when the replica that asked died.
      const jobs = await startVariantQueue({
        connectionString: config.store,
        logger: log,
        variants: store.repos.variants,
      });
      r.jobs = jobs;
      if (config.buildVariants) await jobs.work();
      // A build whose worker died (its Postgres session ended) is retried now, not after its expiry; one replica looks.
      scheduler.add({
        name: 'variant-job-sweep',
        schedule: { everyMs: JOB_SWEEP_MS },
        run: async () => {
          if (await r.ownership.claim('variant-job-sweep')) await jobs.sweep();
        },
      });
    }
    const address = await connectBroker(r);
    const client = await connectClient(r, address.brokerUrl);
    r.client = client;
    await startIngestion(r, client);
    const services = createFleetServices({
      repos: store.repos,
      auth: r.auth,
      dataDir: filesDir,
      clock,
      logger: log,
      events,
      metrics,
      ...stripUndefined({
        random: options.random,
        timedRuns: options.planner?.timedRuns,
        runVariantJob: r.jobs?.runner,
      }),
      searchRunner: options.searchRunner ?? runSearchInWorker,
      link: {
        client,
        inbound: r.inbound,
        scheduler,
        ownership: r.ownership,
        maxPayloadBytes: config.maxPayloadBytes,
        onReject: (rej) => rejections.record(rej),
        ...stripUndefined({ deploy: options.deploy, telemetry: options.telemetry }),
      },
    });
    r.services = services;
    await services.start();
    startControl(r, services);
    const full = await startApi(r, services, address);
    scheduler.start();
    log.info(
      { brokerMode: address.brokerMode, brokerUrl: redactUrl(address.brokerUrl), dataDir: config.dataDir },
      'edgefleet server started',
    );
    return full;
  }

  /** Each step logs what went wrong and the shutdown goes on, so a failure never leaves the store open. */
  async function step(what: string, fn: () => Promise<unknown> | unknown): Promise<void> {
    try {
      await fn();
    } catch (err: unknown) {
      log.warn({ err }, `${what} did not stop cleanly`);
    }
  }

  async function shutdown(): Promise<void> {
    const r = running;
    if (!r) return;
    r.broker?.stopAccepting();
    // The loop first: a reconcile in flight finishes on an open store.
    await step('control loop', () => r.control?.stop());
    await step('scheduler', () => scheduler.stop());
    await step('presence', () => r.presence?.idle());
    // Writes the last telemetry batch while the store is still open.
    await step('services', () => r.services?.stop());
    await step('admin API', () => r.api?.close());
    await step('broker credentials', () => r.credentials?.close());
    await step('enrollment', () => r.enroll?.idle());
    // Stop taking messages before the store closes so nothing writes to it meanwhile.
    await step('broker client', () => r.client?.close());
    // Gives up this replica's keys (its lock session) before the store: another replica takes over at once.
    await step('job queue', () => r.jobs?.close());
    await step('ownership', () => r.ownership.close());
    await step('store', () => r.store.close());
    await step('broker', () => r.broker?.close());
    r.claim.release();
    log.info('edgefleet server stopped');
  }

  return {
    config,
    start: async () => {
      try {
        return await start();
      } catch (err: unknown) {
        // Whatever started is stopped again; a later stop() waits for the same shutdown.
        stopping ??= shutdown();
        await stopping;
        throw err;
      }
    },
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
    repos: () => need().store.repos,
    services: needServices,
    rejections,
    scheduler,
    inbound: () => need().inbound,
    deploy() {
      const d = needServices().deploy;
      if (!d) throw new Error('server not started');
      return d;
    },
    telemetry: () => needServices().telemetry,
    control: () => need().control,
    ownership: () => need().ownership,
    planner: () => needServices().planner,
    mqttTraffic: ((deviceId?: string) =>
      deviceId === undefined
        ? (running?.client?.traffic() ?? { received: {}, published: {} })
        : (running?.client?.deviceTraffic(deviceId) ?? null)) as EdgefleetServer['mqttTraffic'],
    backlog: () => ({
      presence: running?.presence?.backlog() ?? 0,
      telemetry: running?.services?.telemetry.backlog() ?? 0,
      presenceLagMs: running?.presence?.intakeLagMs() ?? 0,
    }),
    events,
    metrics,
    auth: () => need().auth,
    api: () => need().api,
    brokerCredentials() {
      const c = need().credentials;
      if (!c) throw new Error('server not started');
      return c;
    },
  };
}
