/**
 * Runs the agent process: detect capabilities, connect, serve until asked to stop. Used by
 * both `edgefleet-agent` (this package's bin) and `edgefleet agent` (the CLI).
 */
import { mkdir } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { detectCapabilities } from './capabilities/detect.js';
import type { AgentConfig } from './config/schema.js';
import { parseTrustedKey, stripUndefined } from '@edgefleet/shared/device';
import { createDevice, type Device } from './device.js';
import type { AgentLink } from './link/agent-link.js';
import { AGENT_VERSION } from './version.js';

export interface RunningAgent {
  readonly link: AgentLink;
  /** The device: serving runtime, artifact store, local API. */
  readonly device: Device;
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
  const device = await createDevice({
    link: {
      deviceId: config.deviceId,
      deviceClass: config.deviceClass,
      agentVersion: AGENT_VERSION,
      runtime: detected.runtime,
      capabilities: detected.capabilities,
      brokerUrl: config.brokerUrl,
      keepaliveS: config.keepaliveS,
      heartbeatMs: config.heartbeatMs,
    },
    dataDir: config.dataDir,
    trustedKeys: config.trustedKeys.map(parseTrustedKey),
    logger,
    intraOpNumThreads: config.intraOpThreads,
    ...(config.inlineMaxMs > 0 ? { inline: { maxRunMs: config.inlineMaxMs } } : {}),
    serve: serveOptions(config),
    workloadRatePerS: config.workloadRate,
    workloadBatch: config.workloadBatch,
    telemetry: { windowMs: Math.round(config.telemetryWindowS * 1000) },
    preferHttp: config.artifactTransport === 'http',
    storage: { maxPartialBytes: config.maxPartialBytes },
  });
  const { link } = device;
  link.on('commands', (message) => {
    if (message?.type === 'command')
      logger.info({ commandId: message.commandId, name: message.name }, 'command received');
  });
  if (config.trustedKeys.length === 0)
    logger.warn(
      'no trusted keys configured: every deployment manifest will be refused; pass --trusted-keys with the ' +
        "server's public key",
    );
  logger.info(
    {
      deviceId: config.deviceId,
      deviceClass: config.deviceClass,
      broker: redactUrl(config.brokerUrl),
      capabilities: detected.capabilities,
    },
    'agent starting',
  );
  // Serves the last-known-good model (and the local API) before the link starts connecting.
  await device.start();
  return Object.freeze({ link, device, stop: () => device.stop({ clean: true }) });
}

/** Where the local API listens: the TCP port (default 8787 unless only a socket is asked for) and/or the socket. */
export function serveOptions(
  config: Pick<AgentConfig, 'servePort' | 'serveSocket'>,
): { port?: number; socketPath?: string } | false {
  const port = config.servePort ?? (config.serveSocket === undefined ? 8787 : -1);
  if (port < 0 && config.serveSocket === undefined) return false;
  return {
    ...(port >= 0 ? { port } : {}),
    ...stripUndefined({ socketPath: config.serveSocket }),
  };
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM, and keeps the process alive until
 * then: the agent's own timers are unref'd, so while the broker is unreachable (and no local
 * API listens) nothing else would hold the event loop open and the agent would exit 0.
 */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const handle = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
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
