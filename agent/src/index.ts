/** @edgefleet/agent: the device-side process (MQTT link, capabilities, config). Imports only @edgefleet/shared. */
export { createAgentLink, type AgentLink, type AgentLinkOptions, type InboundHandler, type LinkState, type LinkStats } from './link/agent-link.js';
export { backoffDelay, DEFAULT_BACKOFF, validateBackoff, type BackoffPolicy } from './link/backoff.js';
export { systemClock, type Clock, type RandomSource, type TimerHandle } from './link/clock.js';
export { REJECT_LOG_INTERVAL_MS } from './link/inbound.js';
export { PUBLISH_OPTIONS, type DeviceIdentity } from './link/messages.js';
export { canMeasurePower, CPU_PRECISIONS, DEFAULT_POWER_PROBE_PATHS, detectCapabilities, type DetectedDevice, type PowerProbePaths } from './capabilities/detect.js';
export { describeOrt, type OrtDescription } from './runtime/ort.js';
export { AGENT_VERSION } from './version.js';
export { agentConfigSchema, AGENT_CONFIG_FILE_ENV_VAR, AGENT_ENV_VARS, AGENT_FLAGS, type AgentConfig, type AgentFlag } from './config/schema.js';
export { deviceIdFromHostname, formatAgentConfigIssues, loadAgentConfig, type LoadAgentConfigOptions } from './config/load.js';
export { createAgentLogger, startAgent, waitForShutdownSignal, type RunningAgent } from './run.js';
export { agentUsage, flagsToConfig, runAgentCli } from './cli.js';
