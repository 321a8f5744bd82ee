import type { MosquittoCredentials, Readiness } from '@edgefleet/shared';
import type { BrokerCredentials } from '../auth/broker-credentials.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { FleetServices } from '../services.js';
import type { VariantQueue } from '../plan/variant-queue.js';
import type { MetricsRegistry } from './metrics.js';

/**
 * What route modules may use: the server's services (server/src/services.ts) and the few
 * things only the edge knows. Routes stay thin over the services and never reach the store.
 */
export interface ApiDeps
  extends Pick<
    FleetServices,
    | 'auth'
    | 'registry'
    | 'classes'
    | 'models'
    | 'planner'
    | 'artifacts'
    | 'rollouts'
    | 'golden'
    | 'telemetry'
    | 'decisions'
    | 'searches'
  > {
  readonly events: EventBus;
  readonly metrics: MetricsRegistry;
  readonly logger: Logger;
  /** Injected clock, ms. */
  readonly now: () => number;
  /** edgefleet version, for `/health` and the OpenAPI document. */
  readonly version: string;
  readonly startedAt: number;
  readiness(): Readiness;
  /** Largest ONNX upload `POST /v1/models` accepts, bytes (config `apiMaxModelBytes`). */
  readonly maxModelUploadBytes: number;
  /** Tells the broker about new enrollment tokens and issued devices (embedded, dynsec, file or none). */
  brokerCredentials(): BrokerCredentials;
  /** Cuts a revoked device off the broker; true when it was disconnected (false: not connected, or no broker here). */
  cutOff(deviceId: string): Promise<boolean>;
  /** The shared job queue (a server on Postgres); absent: builds run in-process. */
  readonly jobs?: Pick<VariantQueue, 'jobs'>;
  /** What an external mosquitto needs (server/src/auth/broker-config.ts). */
  mosquittoCredentials(): Promise<MosquittoCredentials>;
}
