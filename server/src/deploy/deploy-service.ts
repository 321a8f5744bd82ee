/**
 * The deployer, assembled: signing keyring, artifact store, chunk server, rollout service,
 * deploy-report ingestion and the evaluation timer, behind one start/stop for server.ts.
 */
import { allDevicesFilter, decodeMessage, parseTopic, type RejectReason } from '@edgefleet/shared';
import type { BrokerClient, MessageInfo } from '../broker/client.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/db.js';
import { createArtifactStore, type ServerArtifactStore } from './artifact-store.js';
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
  readonly store: Store;
  readonly client: BrokerClient;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: () => number;
  /** How often active rollouts are evaluated, in ms; 0 disables the timer (tests call `tick`). Default 1000. */
  readonly tickIntervalMs?: number;
  /**
   * How often classes are checked for members behind their desired state (late or returning
   * devices get a catch-up rollout), ms; 0 disables it (tests call `desired.reconcile`). Default 5000.
   */
  readonly desiredIntervalMs?: number;
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
  /** Subscribes, re-publishes in-flight manifests, starts the timer. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createDeployService(options: DeployServiceOptions): DeployService {
  const log = options.logger;
  const tables = options.store.rollouts;
  const keyring = loadSigningKeyring(options.dataDir);
  const artifacts = createArtifactStore({ dataDir: options.dataDir, tables, now: options.now });
  const publish = options.client.publish.bind(options.client);
  let http: HttpArtifactServer | null = null;
  const chunks = createChunkServer({
    publish,
    artifacts,
    tables,
    logger: log.child({ component: 'chunk-server' }),
    now: options.now,
    ...(options.slots ? { slots: options.slots } : {}),
    ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    ...(options.onReject ? { onReject: options.onReject } : {}),
  });
  const actor = createRolloutActor({
    publish,
    signer: () => keyring.active,
    artifacts,
    tables,
    logger: log,
    now: options.now,
    artifactBaseUrl: () => http?.baseUrl ?? null,
  });
  const rollouts = createRolloutService({
    store: options.store,
    artifacts,
    actor,
    logger: log.child({ component: 'rollouts' }),
    now: options.now,
    random: options.random ?? Math.random,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const desired = createClassDesiredReconciler({
    store: options.store,
    rollouts,
    logger: log.child({ component: 'class-desired' }),
  });
  let timer: NodeJS.Timeout | null = null;
  let desiredTimer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;
  let reportRejects = 0;

  function handleMessage(topic: string, payload: Buffer, info: MessageInfo): void {
    const channel = parseTopic(topic)?.channel;
    if (channel === 'chunk-req') {
      chunks.handleMessage(topic, payload, info);
      return;
    }
    if (channel !== 'events') return;
    const decoded = decodeMessage(
      topic,
      payload,
      options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes },
    );
    // Other event types (telemetry breaches, rejections) belong to other modules.
    if (!decoded.ok) {
      reportRejects += 1;
      return;
    }
    if (decoded.message.type !== 'deploy-report') return;
    const report = decoded.message;
    if (report.state !== 'downloading') chunks.release(report.deviceId);
    try {
      rollouts.handleReport(report);
    } catch (err: unknown) {
      log.error({ err, deploymentId: report.deploymentId }, 'deploy report not ingested');
    }
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
      unsubscribe = options.client.onMessage(handleMessage);
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
      const every = options.tickIntervalMs ?? 1000;
      if (every > 0) {
        timer = setInterval(() => {
          rollouts.tick().catch((err: unknown) => log.error({ err }, 'rollout evaluation failed'));
        }, every);
        timer.unref();
      }
      const every2 = options.desiredIntervalMs ?? 5000;
      if (every2 > 0) {
        let running = false;
        desiredTimer = setInterval(() => {
          if (running) return;
          running = true;
          desired
            .reconcile(options.now())
            .catch((err: unknown) => log.error({ err }, 'class desired-state check failed'))
            .finally(() => {
              running = false;
            });
        }, every2);
        desiredTimer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (desiredTimer) clearInterval(desiredTimer);
      timer = null;
      desiredTimer = null;
      unsubscribe?.();
      await http?.close();
      http = null;
      if (reportRejects > 0) log.debug({ reportRejects }, 'undecodable events seen by the deployer');
    },
  };
}
