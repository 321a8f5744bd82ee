/**
 * The deployer, assembled: signing keyring, chunk server, rollout actor and service,
 * deploy-report ingestion, the scheduled rollout evaluation and the class desired-state check
 * (catch-up rollouts for late members), behind one start/stop for server.ts.
 */
import { allDevicesFilter, stripUndefined, type DeployReport, type RejectReason } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import { createInboundRouter, type InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
import type { Ownership } from '../schedule/ownership.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { DesiredStateRepository } from '../store/desired.js';
import type { DeviceRepository } from '../store/devices.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { ServerArtifactStore } from './artifact-store.js';
import { createClassDesiredReconciler, type ClassDesiredReconciler } from './class-desired.js';
import { createChunkServer, type ChunkServer } from './chunk-server.js';
import type { DownloadSlotsOptions } from './download-slots.js';
import { startHttpArtifactServer, type HttpArtifactServer } from './http-artifacts.js';
import { createRolloutActor } from './rollout-actor.js';
import { createRolloutService, type RolloutEvent, type RolloutService } from './rollout-service.js';
import { loadSigningKeyring, type SigningKeyring } from './signing-keys.js';

/** The ownership key of the rollout state machines. */
export const ROLLOUTS_KEY = 'rollouts';

/** Topics the deployer subscribes to. */
export const DEPLOY_FILTERS: readonly string[] = [allDevicesFilter('chunk-req'), allDevicesFilter('events')];
/**
 * With replicas, the rollouts' owner subscribes to deploy traffic in a share group of its own
 * (`$share/<group>-rollouts/…`, a group of one): every deploy report reaches the owner, whichever
 * replica the broker picked for the same message in the telemetry service's group (breaches
 * travel on `events` too), and giving the rollouts up leaves that group, not the telemetry's.
 * The owner may so get a report or a breach twice; both are idempotent (reports deduplicated per
 * deployment and state, breaches per device and seq).
 */
export const ROLLOUTS_SUBGROUP = 'rollouts';

export interface DeployServiceOptions {
  readonly rollouts: RolloutRepository;
  readonly desired: DesiredStateRepository;
  readonly devices: Pick<DeviceRepository, 'list' | 'touch'>;
  /** Devices whose credential is revoked: left out of rollouts and catch-ups. Default: none. */
  readonly revokedDevices?: () => Promise<ReadonlySet<string>>;
  readonly artifacts: ServerArtifactStore;
  readonly client: BrokerClient;
  /**
   * The server's inbound router, where `chunk-req` and `deploy-report` handlers go; default a
   * router of its own on `client`.
   */
  readonly inbound?: InboundRouter;
  readonly scheduler: Scheduler;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: () => number;
  /** How often active rollouts are evaluated (the `rollout-evaluation` task), ms. Default 1000. */
  readonly evaluateEveryMs?: number;
  /**
   * How often classes are checked for members behind their desired state (the
   * `class-desired-state` task: late or returning devices get a catch-up rollout), ms. Default 5000.
   */
  readonly desiredEveryMs?: number;
  /** Concurrent downloads (default 64 devices) and queueing. */
  readonly slots?: DownloadSlotsOptions;
  /** Serve artifacts over HTTP too (manifests then carry a `url`). Default: off. */
  readonly http?: { readonly host: string; readonly port: number; readonly publicHost?: string };
  readonly maxPayloadBytes?: number;
  readonly onReject?: (r: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
  readonly onEvent?: (event: RolloutEvent) => void;
  /**
   * Who runs the rollout state machines when replicas share a store (key `rollouts`): only the
   * owner subscribes to deploy reports and chunk requests, resumes in-flight rollouts and
   * evaluates them, so one process at a time reads and writes a rollout. Default: this process.
   */
  readonly ownership?: Ownership;
}

export interface DeployService {
  readonly keyring: SigningKeyring;
  readonly artifacts: ServerArtifactStore;
  readonly chunks: ChunkServer;
  readonly rollouts: RolloutService;
  /** Brings late and returning class members to their class's desired state. */
  readonly desired: ClassDesiredReconciler;
  /** Base URL of the HTTP artifact route, or null. */
  httpBaseUrl(): string | null;
  /** Subscribes, re-publishes in-flight manifests, schedules the evaluation. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createDeployService(options: DeployServiceOptions): DeployService {
  const log = options.logger;
  const { artifacts } = options;
  const keyring = loadSigningKeyring(options.dataDir);
  const publish = options.client.publish.bind(options.client);
  let http: HttpArtifactServer | null = null;
  const chunks = createChunkServer({
    publish,
    artifacts,
    rollouts: options.rollouts,
    logger: log.child({ component: 'chunk-server' }),
    now: options.now,
    ...stripUndefined({ slots: options.slots }),
  });
  const actor = createRolloutActor({
    publish,
    signer: () => keyring.active,
    artifacts,
    rollouts: options.rollouts,
    logger: log,
    now: options.now,
    artifactBaseUrl: () => http?.baseUrl ?? null,
  });
  const rollouts = createRolloutService({
    rollouts: options.rollouts,
    desired: options.desired,
    devices: options.devices,
    artifacts,
    actor,
    logger: log.child({ component: 'rollouts' }),
    now: options.now,
    random: options.random ?? Math.random,
    ...stripUndefined({ onEvent: options.onEvent, revokedDevices: options.revokedDevices }),
    fence: () => options.ownership?.fence(ROLLOUTS_KEY) ?? null,
  });
  const desired = createClassDesiredReconciler({
    desired: options.desired,
    rollouts,
    rolloutRepo: options.rollouts,
    devices: options.devices,
    ...stripUndefined({ revokedDevices: options.revokedDevices }),
    logger: log.child({ component: 'class-desired' }),
  });
  /** The handlers registered while this process owns the rollouts. */
  let ownerHandlers: Array<() => void> = [];
  /** A router of the deployer's own (standalone use only), with its removal from the client. */
  let ownRouter: { router: InboundRouter; off: () => void } | null = null;

  function handleReport(report: DeployReport): void {
    if (report.state !== 'downloading') chunks.release(report.deviceId);
    rollouts.handleReport(report).catch((err: unknown) => {
      log.error({ err, deploymentId: report.deploymentId }, 'deploy report not ingested');
    });
  }

  /** The server's router, or (standalone) one of its own on the client, which then decodes and counts once. */
  function inboundRouter(): InboundRouter {
    if (options.inbound) return options.inbound;
    if (!ownRouter) {
      const router = createInboundRouter({
        logger: log,
        onReject: (r) => options.onReject?.(r),
        ...stripUndefined({ maxPayloadBytes: options.maxPayloadBytes }),
      });
      ownRouter = { router, off: options.client.onMessage(router.handleMessage) };
    }
    return ownRouter.router;
  }

  function dropOwnerHandlers(): void {
    for (const off of ownerHandlers) off();
    ownerHandlers = [];
  }

  const ownership = options.ownership;
  let owner = false;
  /**
   * True while this process owns the rollouts. On taking them over it registers the chunk and
   * report handlers, subscribes to the devices' deploy traffic and re-publishes every in-flight
   * manifest (`resume`), as after a restart; on losing them it removes the handlers and
   * unsubscribes, so reports go to the new owner.
   */
  async function claimRollouts(): Promise<boolean> {
    const now = ownership ? await ownership.claim(ROLLOUTS_KEY) : true;
    if (now && !owner) {
      owner = true;
      const inbound = inboundRouter();
      ownerHandlers.push(inbound.on('chunk-req', (request) => chunks.accept(request)));
      ownerHandlers.push(inbound.on('deploy-report', handleReport));
      await options.client.subscribe(DEPLOY_FILTERS, 1, ROLLOUTS_SUBGROUP);
      await rollouts.resume();
    } else if (!now && owner) {
      owner = false;
      dropOwnerHandlers();
      await options.client.unsubscribe(DEPLOY_FILTERS, ROLLOUTS_SUBGROUP).catch(() => undefined);
      log.warn('rollout ownership lost; another replica runs them now');
    }
    return owner;
  }

  return {
    keyring,
    artifacts,
    chunks,
    rollouts,
    desired,
    httpBaseUrl: () => http?.baseUrl ?? null,
    async start() {
      if (options.http) http = await startHttpArtifactServer({ artifacts, logger: log, ...options.http });
      log.info(
        {
          keyId: keyring.active.keyId,
          trustedKeys: keyring.publicKeys.map((k) => k.publicKey),
          keysFile: `${keyring.dir}/trusted-keys.txt`,
        },
        'manifest signing key ready; agents must trust these public keys',
      );
      // Alone (SQLite) this process owns them at once; replicas race for the key, and the others ask again each tick.
      await claimRollouts();
      options.scheduler.add({
        name: 'rollout-evaluation',
        schedule: { everyMs: options.evaluateEveryMs ?? 1000 },
        run: async () => {
          if (await claimRollouts()) await rollouts.tick();
        },
      });
      options.scheduler.add({
        name: 'class-desired-state',
        schedule: { everyMs: options.desiredEveryMs ?? 5000 },
        run: async (at) => {
          if (owner) await desired.reconcile(at);
        },
      });
    },
    async stop() {
      dropOwnerHandlers();
      ownRouter?.off();
      ownRouter = null;
      if (owner) await ownership?.release(ROLLOUTS_KEY);
      owner = false;
      await http?.close();
      http = null;
    },
  };
}
