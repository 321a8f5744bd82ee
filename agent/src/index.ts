/**
 * @edgefleet/agent: the device-side process (MQTT link, capabilities, config, inference runtime, artifacts, swap, local
 * API). Imports only @edgefleet/shared.
 */
export {
  createAgentLink,
  type AgentLink,
  type AgentLinkOptions,
  type InboundHandler,
  type LinkState,
  type LinkStats,
} from './link/agent-link.js';
export { backoffDelay, DEFAULT_BACKOFF, validateBackoff, type BackoffPolicy } from './link/backoff.js';
/** The injected clock lives in shared/ (server and agent use the same one); re-exported for library users. */
export { systemClock, type Clock, type RandomSource, type TimerHandle } from '@edgefleet/shared/device';
export { REJECT_LOG_INTERVAL_MS } from './link/inbound.js';
export { PUBLISH_OPTIONS, type DeviceIdentity } from './link/messages.js';
export {
  canMeasurePower,
  CPU_PRECISIONS,
  DEFAULT_POWER_PROBE_PATHS,
  detectCapabilities,
  type DetectedDevice,
  type PowerProbePaths,
} from './capabilities/detect.js';
export { describeOrt, type OrtDescription } from './runtime/ort.js';
export { AGENT_VERSION } from './version.js';
export { AGENT_NODE_FLAGS } from './node-flags.js';
export {
  agentConfigSchema,
  AGENT_CONFIG_FILE_ENV_VAR,
  AGENT_ENV_VARS,
  AGENT_FLAGS,
  type AgentConfig,
  type AgentFlag,
} from './config/schema.js';
export {
  deviceIdFromHostname,
  formatAgentConfigIssues,
  loadAgentConfig,
  type LoadAgentConfigOptions,
} from './config/load.js';
export { createAgentLogger, serveOptions, startAgent, waitForShutdownSignal, type RunningAgent } from './run.js';
export { agentUsage, flagsToConfig, joinNegativeValues, runAgentCli, type AgentCliOptions } from './cli.js';
export { createDevice, type Device, type DeviceOptions, type DeviceStatus } from './device.js';
export {
  createModelWorker,
  type ModelWorker,
  type ModelWorkerOptions,
  type RunOptions,
} from './runtime/model-worker.js';
export {
  createServingRuntime,
  type InferenceResult,
  type ServingModel,
  type ServingRuntime,
} from './runtime/serving.js';
export type { FloatTensor } from './runtime/ort.js';
export {
  openArtifactStore,
  writeFileAtomic,
  type AgentState,
  type ArtifactStore,
  type ModelPointer,
} from './artifacts/store.js';
export {
  downloadChunks,
  type ChunkTransport,
  type ChunkDownloadOptions,
  type DownloadCounts,
} from './artifacts/chunk-download.js';
export { downloadHttp, type HttpDownloadOptions } from './artifacts/http-download.js';
export { runSwap, type RunSwapOptions } from './swap/run-swap.js';
export { SWAP_STEP_DEFS, type SwapContext, type SwapDeps, type SwapStepDef } from './swap/steps.js';
export { decodeFloat32, encodeFloat32, goldenFeeds, scoreGolden, type GoldenScore } from './swap/golden.js';
export {
  inferRequestSchema,
  startLocalApi,
  type InferRequest,
  type LocalApi,
  type LocalApiOptions,
} from './serve/local-api.js';
export { startWorkload, type Workload, type WorkloadOptions } from './serve/workload.js';
export {
  createLatencyHistogram,
  HISTOGRAM_GROWTH,
  HISTOGRAM_MAX_MS,
  HISTOGRAM_MIN_MS,
  type LatencyHistogram,
} from './meters/latency-histogram.js';
export {
  counterDelta,
  createHwmonSource,
  createModelledPowerSource,
  createRaplSource,
  DEFAULT_POWER_SYSFS,
  selectPowerSource,
  type PowerModelFigures,
  type PowerSource,
  type PowerSysfs,
} from './meters/power.js';
export {
  createSysfsThermalReader,
  DEFAULT_THERMAL_SYSFS,
  processRssBytes,
  readCpuTempC,
  readFrequencyCapped,
  readThrottleCount,
  type ThermalReader,
  type ThermalReading,
  type ThermalSysfs,
} from './meters/system.js';
export { top1Confidences } from './meters/confidence.js';
export {
  createGoldenRunner,
  type GoldenResult,
  type GoldenRunner,
  type GoldenRunnerOptions,
  type GoldenTarget,
} from './meters/accuracy.js';
export {
  openOutbox,
  type Outbox,
  type OutboxChannel,
  type OutboxEntry,
  type OutboxOptions,
} from './telemetry/outbox.js';
export {
  breaks,
  createBudgetWatcher,
  measureBudget,
  type BudgetWatcher,
  type BudgetWatcherOptions,
  type WatchedBudgets,
} from './telemetry/budget-watcher.js';
export { createWindowAccumulator, type WindowAccumulator, type WindowFigures } from './telemetry/window.js';
export {
  createTelemetry,
  type Telemetry,
  type TelemetryOptions,
  type TelemetryReaders,
  type TelemetryStats,
} from './telemetry/telemetry-service.js';
export {
  createLinkTransport,
  type DeliveryStats,
  type PublishOutcome,
  type TelemetryDelivery,
  type TelemetryTransport,
} from './telemetry/transport.js';
export {
  createDeviceTelemetry,
  manifestBudgets,
  type DeviceTelemetryDeps,
  type DeviceTelemetryOptions,
} from './telemetry/device-telemetry.js';
export {
  enrollDevice,
  enrollIdFor,
  newPendingEnrollment,
  type EnrolledIdentity,
  type EnrollOptions,
  type PendingEnrollment,
} from './enroll/enroll.js';
export {
  agentIdentitySchema,
  clearPendingEnrollment,
  IDENTITY_FILE,
  PENDING_ENROLLMENT_FILE,
  readIdentity,
  readPendingEnrollment,
  writeIdentity,
  writePendingEnrollment,
  type AgentIdentity,
} from './enroll/identity.js';
export {
  applyIdentity,
  brokerUrlWithCredentials,
  enrollmentToken,
  resolveAgentIdentity,
} from './enroll/resolve.js';
