import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { EdgefleetError } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import { checkPublish, type PublishRejection } from './guard.js';

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 picks a free one (tests always do). */
  readonly port: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** ms a slow subscriber may block delivery before it is dropped. Default 15000. */
  readonly drainTimeoutMs?: number;
  /**
   * When set, publishes outside the topic scheme or above this size are refused in
   * `authorizePublish` (which closes the publisher's connection: MQTT 3.1.1 has no negative
   * PUBACK [MQTT-3.3.5-2]). Leave unset for a plain broker, e.g. a test's "external" one.
   */
  readonly maxPayloadBytes?: number;
  /** Told about every refused publish, so the server can count it. */
  readonly onReject?: (rejection: PublishRejection & { readonly clientId: string | null }) => void;
  readonly logger?: Logger;
}

/** A running aedes broker on a TCP port. */
export interface EmbeddedBroker {
  readonly port: number;
  readonly host: string;
  /** `mqtt://127.0.0.1:<port>` (loopback, whatever interface it listens on). */
  readonly url: string;
  /** Clients currently connected. */
  connectedClients(): number;
  /** Closes the TCP listener: no new connections; connected clients keep going. Idempotent. */
  stopAccepting(): void;
  /** Stops accepting, closes every client, then the broker. Idempotent. */
  close(): Promise<void>;
}

function listen(server: TcpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const hint = err.code === 'EADDRINUSE' ? ' (another MQTT broker, e.g. mosquitto, may be running; pick another --port or use --broker)' : '';
      reject(new EdgefleetError('EF_ERR_BROKER_LISTEN', `embedded broker cannot listen on ${host}:${port}: ${err.message}${hint}`, { port, host, errno: err.code ?? null }, { cause: err }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function guardOptions(options: EmbeddedBrokerOptions): Partial<AedesOptions> {
  const max = options.maxPayloadBytes;
  if (max === undefined) return {};
  return {
    authorizePublish(client, packet, callback) {
      const payloadBytes = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.byteLength;
      const rejection = checkPublish(packet.topic, payloadBytes, { maxPayloadBytes: max });
      if (!rejection) return callback(null);
      options.onReject?.({ ...rejection, clientId: client?.id ?? null });
      callback(new Error(`${rejection.reason}: ${rejection.detail}`));
    },
  };
}

/**
 * Starts aedes on a TCP port. The one module that imports aedes. The server uses it for its
 * default embedded mode; tests also use it as a stand-in "external" broker.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger;
  const aedes = await Aedes.createBroker({
    drainTimeout: options.drainTimeoutMs ?? 15_000,
    // Device ids are up to 64 characters; MQTT 3.1 would otherwise cap client ids at 23.
    maxClientsIdLength: 128,
    ...guardOptions(options),
  });
  aedes.on('clientError', (client, err) => log?.debug({ clientId: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log?.debug({ err: err.message }, 'connection error'));
  aedes.on('keepaliveTimeout', (client) => log?.info({ clientId: client.id }, 'client keepalive expired; publishing its last will'));
  const server = createTcpServer((socket) => aedes.handle(socket));
  let port: number;
  try {
    port = await listen(server, options.port, host);
  } catch (err: unknown) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  log?.info({ host, port }, 'embedded MQTT broker listening');
  let closing: Promise<void> | null = null;
  // server.close() calls back once every connection has ended, which aedes.close() brings about.
  let serverClosed: Promise<void> | null = null;
  const stopAccepting = () => {
    serverClosed ??= new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return Object.freeze({
    port,
    host,
    url: `mqtt://127.0.0.1:${port}`,
    connectedClients: () => aedes.connectedClients,
    stopAccepting,
    close(): Promise<void> {
      closing ??= (async () => {
        stopAccepting();
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        await serverClosed;
        log?.info('embedded MQTT broker closed');
      })();
      return closing;
    },
  });
}
