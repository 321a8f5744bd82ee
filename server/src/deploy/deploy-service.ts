/**
 * The deployer, assembled: signing keyring, artifact store, chunk server, rollout service,
 * deploy-report ingestion and the evaluation timer, behind one start/stop for server.ts.
 */
import { allDevicesFilter, type DeployReport, type RejectReason } from '@edgefleet/shared';
import type { BrokerClient } from '../broker/client.js';
import { createInboundRouter, type InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/db.js';
import { createArtifactStore, type ServerArtifactStore } from './artifact-store.js';
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
  /** The server's inbound router, where `chunk-req` and `deploy-report` handlers go; default a router of its own on `client`. */
  readonly inbound?: InboundRouter;
  readonly dataDir: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: () => number;
  /** How often active rollouts are evaluated, in ms; 0 disables the timer (tests call `tick`). Default 1000. */
  readonly tickIntervalMs?: number;
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
  const artifacts = createArtifactStore({
    dataDir: options.dataDir,
    tables,
    now: options.now,
    logger: log.child({ component: 'artifacts' }),
  });
  const publish = options.client.publish.bind(options.client);
  let http: HttpArtifactServer | null = null;
  const chunks = createChunkServer({
    publish,
    artifacts,
    tables,
    logger: log.child({ component: 'chunk-server' }),
    now: options.now,
    ...(options.slots ? { slots: options.slots } : {}),
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
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: Array<() => void> = [];

  function handleReport(report: DeployReport): void {
    if (report.state !== 'downloading') chunks.release(report.deviceId);
    try {
      rollouts.handleReport(report);
    } catch (err: unknown) {
      log.error({ err, deploymentId: report.deploymentId }, 'deploy report not ingested');
    }
  }

  /** The server's router, or (standalone) one of its own on the client, which then decodes and counts once. */
  function inboundRouter(): InboundRouter {
    if (options.inbound) return options.inbound;
    const own = createInboundRouter({
      logger: log,
      onReject: (r) => options.onReject?.(r),
      ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    });
    unsubscribe.push(options.client.onMessage(own.handleMessage));
    return own;
  }

  return {
    keyring,
    artifacts,
    chunks,
    rollouts,
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
      const every = options.tickIntervalMs ?? 1000;
      if (every > 0) {
        timer = setInterval(() => {
          rollouts.tick().catch((err: unknown) => log.error({ err }, 'rollout evaluation failed'));
        }, every);
        timer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      for (const off of unsubscribe) off();
      unsubscribe = [];
      await http?.close();
      http = null;
    },
  };
}
