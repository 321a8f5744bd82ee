import type { Readiness } from '@edgefleet/shared';
import type { BrokerCredentials } from '../auth/broker-credentials.js';
import type { AuthService } from '../auth/service.js';
import type { DeployService } from '../deploy/deploy-service.js';
import type { Planner } from '../plan/planner.js';
import type { SearchJobs } from '../plan/search-jobs.js';
import type { TelemetryService } from '../telemetry/telemetry-service.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/db.js';
import type { MetricsRegistry } from './metrics.js';

/**
 * What route modules may use. Each area adds what it needs here when it lands (planner,
 * deployer, telemetry), so routes stay thin over server functions.
 */
export interface ApiDeps {
  readonly store: Store;
  readonly auth: AuthService;
  readonly events: EventBus;
  readonly metrics: MetricsRegistry;
  readonly logger: Logger;
  /** Injected clock, ms. */
  readonly now: () => number;
  /** edgefleet version, for `/health` and the OpenAPI document. */
  readonly version: string;
  readonly startedAt: number;
  readiness(): Readiness;
  /** The server's data directory (model store, artifacts). */
  readonly dataDir: string;
  /** Largest ONNX upload `POST /v1/models` accepts, bytes (config `apiMaxModelBytes`). */
  readonly maxModelUploadBytes: number;
  /** The deployer (rollouts). */
  deploy(): DeployService;
  /** Telemetry series and budget status. */
  telemetry(): TelemetryService;
  /** A planner to share (e.g. the control loop's); default: the API builds its own over the store. */
  readonly planner?: () => Planner;
  /** Search jobs (`/v1/searches`); unset: the routes answer that this server runs no searches. */
  readonly searches?: () => SearchJobs | undefined;
  /** Tells the broker about new enrollment tokens and revoked devices (embedded, dynsec or file mode). */
  brokerCredentials(): BrokerCredentials;
}
