/**
 * The server's services over one store, composed once: auth, device classes, models, the
 * planner, artifacts, rollouts, telemetry queries and the decision log. The admin API is thin
 * over exactly these, and they are the only writers of fleet state.
 *
 * Two compositions use this: the running server (`server.ts`) passes its broker link, so
 * rollouts deliver manifests and telemetry is ingested; the CLI on a data directory with no
 * server running (`local.ts`) passes none, and the same services record what it asks (a
 * rollout's waves, an abort) for the server to carry out when it runs.
 */
import type { Clock, RejectReason } from '@edgefleet/shared';
import { createMeteredPlanner, searchMetrics } from './api/collectors.js';
import type { MetricsRegistry } from './api/metrics.js';
import type { AuthService } from './auth/service.js';
import type { BrokerClient } from './broker/client.js';
import type { InboundRouter } from './broker/inbound.js';
import { createArtifactStore, type ServerArtifactStore } from './deploy/artifact-store.js';
import { createDeployService, type DeployService, type DeployServiceOptions } from './deploy/deploy-service.js';
import { createGoldenService, type GoldenService } from './deploy/golden-service.js';
import { createRolloutService, type RolloutService } from './deploy/rollout-service.js';
import type { EventBus } from './events/bus.js';
import type { Logger } from './log/logger.js';
import { createClassService, type ClassService } from './plan/classes.js';
import { createModelService, type ModelService } from './plan/models.js';
import type { Planner } from './plan/planner.js';
import { createSearchJobs, type SearchJobs, type SearchRunner } from './plan/search-jobs.js';
import type { VariantJobRunner } from './plan/variants.js';
import type { Ownership } from './schedule/ownership.js';
import type { Scheduler } from './schedule/scheduler.js';
import type { ControlRepository } from './store/control.js';
import type { DeviceRepository } from './store/devices.js';
import type { Repositories } from './store/index.js';
import { createTelemetryService, type TelemetryService } from './telemetry/telemetry-service.js';
import { stripUndefined } from '@edgefleet/shared';

export interface FleetServices {
  readonly auth: AuthService;
  /** The device registry: presence writes what devices say; an admin only moves a device to another class. */
  readonly registry: Pick<DeviceRepository, 'get' | 'list' | 'setClass'>;
  readonly classes: ClassService;
  readonly models: ModelService;
  readonly planner: Planner;
  readonly artifacts: ServerArtifactStore;
  readonly rollouts: RolloutService;
  /** Golden sets made from data and checked against their variant on this host before a rollout. */
  readonly golden: GoldenService;
  readonly telemetry: TelemetryService;
  readonly decisions: Pick<ControlRepository, 'decisions' | 'countByKind'>;
  /** Hardware-aware search jobs; null when no runner was given (the CLI's local composition runs none). */
  readonly searches: SearchJobs | null;
  /** The deployer's broker side (chunk server, signing keyring); null without a broker link. */
  readonly deploy: DeployService | null;
  /** Subscribes and schedules (with a link); nothing to do without one. */
  start(): Promise<void>;
  /** Writes buffered telemetry and stops the deployer; the store stays open. */
  stop(): Promise<void>;
}

/** What the services need of the broker and the scheduler when they run inside the server. */
export interface BrokerLink {
  readonly client: BrokerClient;
  /** The server's one inbound edge: the deployer and telemetry register their handlers there. */
  readonly inbound: InboundRouter;
  readonly scheduler: Scheduler;
  /** Who does once-only work (rollouts, retention) when replicas share the store; default this process. */
  readonly ownership?: Ownership;
  readonly maxPayloadBytes: number;
  readonly onReject: (r: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
  readonly deploy?: Pick<DeployServiceOptions, 'slots' | 'http' | 'evaluateEveryMs' | 'desiredEveryMs'>;
  readonly telemetry?: { readonly batchSize?: number; readonly flushIntervalMs?: number };
}

export interface FleetServicesOptions {
  readonly repos: Repositories;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventBus;
  readonly metrics: MetricsRegistry;
  /** Random source for rollout ids. Default Math.random. */
  readonly random?: () => number;
  /** The auth service, when the caller needs it before the services (the broker's access control). */
  readonly auth: AuthService;
  /** Timed runs per variant measurement; default the planner's 50. */
  readonly timedRuns?: number;
  /** Where variant builds run; default a worker thread in this process (replicas: the Postgres job queue). */
  readonly runVariantJob?: VariantJobRunner;
  /** The broker side; omitted: the services record and the running server delivers. */
  readonly link?: BrokerLink;
  /** Runs searches (`POST /v1/searches`, the loop's search action); omitted: no search jobs. */
  readonly searchRunner?: SearchRunner;
}

export function createFleetServices(o: FleetServicesOptions): FleetServices {
  const { repos, clock, logger: log, link } = o;
  const now = () => clock.now();
  const { auth } = o;
  const classes = createClassService(repos.classes, { now });
  // One planner for the API and the loop, so every variant build lands in one histogram.
  const planner = createMeteredPlanner({
    repos,
    dataDir: o.dataDir,
    now,
    metrics: o.metrics,
    ...stripUndefined({ timedRuns: o.timedRuns }),
    ...stripUndefined({ runJob: o.runVariantJob }),
  });
  const artifacts = createArtifactStore({
    dataDir: o.dataDir,
    artifacts: repos.artifacts,
    now,
    logger: log.child({ component: 'artifacts' }),
  });
  const onEvent = (event: Parameters<EventBus['publish']>[0]) => void o.events.publish(event);
  // A revoked device keeps its registry row; rollouts and catch-ups must leave it out.
  const revokedDevices = async (): Promise<ReadonlySet<string>> =>
    new Set((await auth.credentials()).filter((c) => c.revokedAt !== null).map((c) => c.deviceId));
  const deploy = link
    ? createDeployService({
        rollouts: repos.rollouts,
        desired: repos.desired,
        devices: repos.devices,
        revokedDevices,
        artifacts,
        client: link.client,
        inbound: link.inbound,
        scheduler: link.scheduler,
        dataDir: o.dataDir,
        now,
        logger: log.child({ component: 'deploy' }),
        maxPayloadBytes: link.maxPayloadBytes,
        onReject: link.onReject,
        ...link.deploy,
        ...(link.ownership ? { ownership: link.ownership } : {}),
        ...(o.random ? { random: o.random } : {}),
        // Rollout progress goes out on the fleet event bus, so `GET /v1/events` streams it.
        onEvent,
      })
    : null;
  const rollouts =
    deploy?.rollouts ??
    createRolloutService({
      rollouts: repos.rollouts,
      desired: repos.desired,
      devices: repos.devices,
      revokedDevices,
      artifacts,
      actor: null,
      logger: log.child({ component: 'rollouts' }),
      now,
      random: o.random ?? Math.random,
      onEvent,
    });
  const telemetry = createTelemetryService({
    telemetry: repos.telemetry,
    classes: repos.classes,
    clock,
    logger: log.child({ component: 'telemetry' }),
    ...(link
      ? {
          client: link.client,
          inbound: link.inbound,
          scheduler: link.scheduler,
          maxPayloadBytes: link.maxPayloadBytes,
          onReject: link.onReject,
          ...link.telemetry,
          ...(link.ownership ? { ownership: link.ownership } : {}),
        }
      : {}),
  });
  const models = createModelService(repos.models, o.dataDir, now);
  const searches = o.searchRunner
    ? createSearchJobs({ classes, models, planner, dataDir: o.dataDir, runner: o.searchRunner, logger: log, now })
    : null;
  if (searches) o.metrics.register(searchMetrics(searches));
  return {
    auth,
    registry: repos.devices,
    classes,
    models,
    planner,
    artifacts,
    rollouts,
    golden: createGoldenService({ artifacts, variants: repos.variants, models: repos.models }),
    telemetry,
    decisions: repos.control,
    searches,
    deploy,
    async start() {
      await deploy?.start();
      await telemetry.start();
    },
    async stop() {
      await deploy?.stop().catch((err: unknown) => log.warn({ err }, 'deployer did not stop cleanly'));
      // Writes the last telemetry batch while the store is still open.
      await telemetry.stop().catch((err: unknown) => log.warn({ err }, 'telemetry did not stop cleanly'));
    },
  };
}
