/**
 * The deployer, assembled: signing keyring, chunk server, rollout actor and service,
 * deploy-report ingestion, the scheduled rollout evaluation and the class desired-state check
 * (catch-up rollouts for late members), behind one start/stop for server.ts.
 */
import { allDevicesFilter, stripUndefined, type DeployReport, type RejectReason } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import { createInboundRouter, type InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
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

/** Topics the deployer subscribes to. */
export const DEPLOY_FILTERS: readonly string[] = [allDevicesFilter('chunk-req'), allDevicesFilter('events')];

export interface DeployServiceOptions {
  readonly rollouts: RolloutRepository;
  readonly desired: DesiredStateRepository;
  readonly devices: Pick<DeviceRepository, 'list' | 'touch'>;
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
    ...stripUndefined({ onEvent: options.onEvent }),
  });
  const desired = createClassDesiredReconciler({
    desired: options.desired,
    rollouts,
    rolloutRepo: options.rollouts,
    devices: options.devices,
    logger: log.child({ component: 'class-desired' }),
  });
  let unsubscribe: Array<() => void> = [];

  function handleReport(report: DeployReport): void {
    if (report.state !== 'downloading') chunks.release(report.deviceId);
    rollouts.handleReport(report).catch((err: unknown) => {
      log.error({ err, deploymentId: report.deploymentId }, 'deploy report not ingested');
    });
  }

  /** The server's router, or (standalone) one of its own on the client, which then decodes and counts once. */
  function inboundRouter(): InboundRouter {
    if (options.inbound) return options.inbound;
    const own = createInboundRouter({
      logger: log,
      onReject: (r) => options.onReject?.(r),
      ...stripUndefined({ maxPayloadBytes: options.maxPayloadBytes }),
    });
    unsubscribe.push(options.client.onMessage(own.handleMessage));
    return own;
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
      const inbound = inboundRouter();
      unsubscribe.push(inbound.on('chunk-req', (request) => chunks.accept(request)));
      unsubscribe.push(inbound.on('deploy-report', handleReport));
      await options.client.subscribe(DEPLOY_FILTERS, 1);
      log.info(
        {
          keyId: keyring.active.keyId,
          trustedKeys: keyring.publicKeys.map((k) => k.publicKey),
          keysFile: `${keyring.dir}/trusted-keys.txt`,
        },
        'manifest signing key ready; agents must trust these public keys',
      );
      await rollouts.resume();
      options.scheduler.add({
        name: 'rollout-evaluation',
        schedule: { everyMs: options.evaluateEveryMs ?? 1000 },
        run: () => rollouts.tick(),
      });
      options.scheduler.add({
        name: 'class-desired-state',
        schedule: { everyMs: options.desiredEveryMs ?? 5000 },
        run: (at) => desired.reconcile(at),
      });
    },
    async stop() {
      for (const off of unsubscribe) off();
      unsubscribe = [];
      await http?.close();
      http = null;
    },
  };
}
