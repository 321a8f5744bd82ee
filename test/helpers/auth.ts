/**
 * Helpers for identity tests: a server with auth on (the default) on ephemeral ports, raw
 * MQTT connections with credentials, and a log capture to search for leaked secrets.
 */
import type { SearchRunner } from '@edgefleet/server/plan/search-jobs';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { createServer, loadServerConfig, REDACT_PATHS, type EdgefleetServer } from '@edgefleet/server';
import type { Clock } from '@edgefleet/shared';

export interface LogCapture {
  readonly logger: Logger;
  text(): string;
}

/** A pino logger (with the server's redaction) writing into memory. */
export function captureLogs(level: 'info' | 'debug' | 'trace' = 'debug'): LogCapture {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }, sink);
  return { logger, text: () => chunks.join('') };
}

export function makeAuthServer(
  dataDir: string,
  flags: Record<string, unknown> = {},
  options: { logger?: Logger; clock?: Clock; searchRunner?: SearchRunner } = {},
): EdgefleetServer {
  const config = loadServerConfig({
    flags: { dataDir, port: 0, host: '127.0.0.1', apiPort: 0, apiHost: '127.0.0.1', 'log.level': 'silent', ...flags },
  });
  return createServer(config, {
    logger: options.logger ?? pino({ level: 'silent' }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.searchRunner ? { searchRunner: options.searchRunner } : {}),
  });
}

/**
 * Connects; resolves with the client, or rejects with the CONNACK refusal (err.code = the
 * return code) or, when the broker just closes the socket (rate limit), with code 'closed'.
 */
export function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  return new Promise((resolve, reject) => {
    const fail = (err: Error & { code?: unknown }) => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.removeListener('error', fail);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', () => {
      if (!client.connected) fail(Object.assign(new Error('connection closed before CONNACK'), { code: 'closed' }));
    });
  });
}

/** QoS granted for one filter; 128 when refused (mqtt.js rejects the promise in that case). */
export async function subscribeGranted(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    return granted[0]?.qos ?? -1;
  } catch (err: unknown) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (packet?.granted) return packet.granted[0] ?? -1;
    throw err;
  }
}

/** Resolves when the client's connection closes (the broker cut it off), or 'open' after `ms`. */
export function closedWithin(client: MqttClient, ms: number): Promise<'closed' | 'open'> {
  if (!client.connected) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
