/**
 * @edgefleet/server: the control server. Import subpaths (`@edgefleet/server/store/sqlite/open`)
 * for single modules; this index re-exports what the CLI and tests need most.
 */
export { createServer, type EdgefleetServer, type ServerAddress, type CreateServerOptions } from './server.js';
export {
  loadServerConfig,
  formatConfigIssues,
  serverConfigSchema,
  CONFIG_ENV_VARS,
  CONFIG_FILE_ENV_VAR,
  type ServerConfig,
  type ServerConfigInput,
} from './config/index.js';
export { createLogger, redactUrl, REDACT_PATHS, type Logger, type CreateLoggerOptions } from './log/logger.js';
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from './broker/embedded.js';
export { createBrokerClient, type BrokerClient, type MessageHandler, type MessageInfo } from './broker/client.js';
export { createInboundRouter, type InboundRouter, type InboundStats } from './broker/inbound.js';
export { openSqliteStore, STORE_FILE, type OpenStoreOptions } from './store/sqlite/open.js';
export type { FleetStore, Repositories } from './store/index.js';
export type { DeviceRecord, DeviceState, StateReason } from './store/devices.js';
export { createRejectionCounter, type RejectionCounter, type Rejection } from './registry/rejections.js';
export { createPresenceService, PRESENCE_FILTERS, type PresenceService } from './registry/presence.js';
export { summarizePresence, type ClassPresence } from './registry/summary.js';
export { EXTERNAL_BROKER_SECRET_FILE } from './auth/broker-config.js';
export { startLocalServices, type LocalServices, type LocalServicesOptions } from './local.js';
export { readRuntimeInfo, describeHolder, RUNTIME_FILE, type RuntimeInfo } from './runtime-file.js';
export { createScheduler, type Scheduler, type TaskSpec, type TaskStatus } from './schedule/scheduler.js';
export { createAuthService, SERVER_USERNAME, isReservedDeviceId, type AuthService } from './auth/service.js';
export { createEventBus, type EventBus, type FleetEvent, type FleetEventEnvelope } from './events/bus.js';
export { createApiServer, type ApiServer, type ApiServerOptions } from './api/app.js';
export { createMetricsRegistry, type MetricsRegistry, type MetricFamily } from './api/metrics.js';
