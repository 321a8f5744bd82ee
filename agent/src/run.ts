/**
 * Runs the agent process: detect capabilities, connect, serve until asked to stop. Used by
 * both `edgefleet-agent` (this package's bin) and `edgefleet agent` (the CLI).
 */
import { mkdir } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { detectCapabilities } from './capabilities/detect.js';
import type { AgentConfig } from './config/schema.js';
import { createAgentLink, type AgentLink } from './link/agent-link.js';
import { AGENT_VERSION } from './version.js';

export interface RunningAgent {
  readonly link: AgentLink;
  /** Publishes the retained offline status, disconnects cleanly and resolves. */
  stop(): Promise<void>;
}

/** The agent's root logger: JSON lines on stdout (journald and log shippers read them as is). */
export function createAgentLogger(config: Pick<AgentConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'agent' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Starts the agent; returns at once (it keeps retrying while the broker is unreachable). */
export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  await mkdir(config.dataDir, { recursive: true });
  const detected = await detectCapabilities();
  const link = createAgentLink({
    deviceId: config.deviceId,
    deviceClass: config.deviceClass,
    agentVersion: AGENT_VERSION,
    runtime: detected.runtime,
    capabilities: detected.capabilities,
    brokerUrl: config.brokerUrl,
    logger,
    keepaliveS: config.keepaliveS,
    heartbeatMs: config.heartbeatMs,
  });
  link.on('commands', (message) => {
    if (message?.type === 'command') logger.info({ commandId: message.commandId, name: message.name }, 'command received');
  });
  logger.info({ deviceId: config.deviceId, deviceClass: config.deviceClass, broker: redactUrl(config.brokerUrl), capabilities: detected.capabilities }, 'agent starting');
  link.start().catch(() => undefined);
  return Object.freeze({ link, stop: () => link.stop({ clean: true }) });
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handle = (signal: NodeJS.Signals) => {
      process.off('SIGINT', handle);
      process.off('SIGTERM', handle);
      resolve(signal);
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  });
}

/** Drops a password from a URL before it is logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
