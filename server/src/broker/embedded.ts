import { createServer as createTcpServer, type AddressInfo, type Socket, type Server as TcpServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import type { BrokerAccess, Principal } from '../auth/broker-access.js';
import { EdgefleetError, MAX_CHUNK_MESSAGE_BYTES } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import { checkPublish, type PublishRejection } from './guard.js';
import { createPendingConnections, GatedConnection, type PacketLimits } from './packet-gate.js';

/**
 * Room in a packet beyond its payload: fixed header, topic, packet id. Topics of the
 * scheme are under 100 bytes; anything near this is refused by the publish guard anyway.
 */
const PACKET_HEADROOM_BYTES = 4096;

/** Limits on connections not yet accepted; see {@link EmbeddedBrokerOptions.connections}. */
export interface ConnectionLimits {
  readonly maxConnectPacketBytes: number;
  readonly maxPendingPerAddress: number;
  readonly connectTimeoutMs: number;
}

/** Defaults of {@link EmbeddedBrokerOptions.connections}. */
export const CONNECTION_DEFAULTS: ConnectionLimits = Object.freeze({
  maxConnectPacketBytes: 16 * 1024,
  maxPendingPerAddress: 128,
  connectTimeoutMs: 10_000,
});

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 picks a free one (tests always do). */
  readonly port: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string;
  /** ms a slow subscriber may block delivery before it is dropped. Default 15000. */
  readonly drainTimeoutMs?: number;
  /**
   * Client id of the server's own connection to this broker, which `drainTimeoutMs` never drops:
   * the server runs in this process, so a full socket to it means the server is behind, not gone.
   * Dropping it lost every message queued for it and left the fleet unheard (presence collapsed at
   * ~7,000 devices); waiting instead holds devices' QoS 1 publishes until it reads (backpressure).
   */
  readonly ownClientId?: string;
  /**
   * When set, publishes outside the topic scheme or above this size are refused in
   * `authorizePublish` (which closes the publisher's connection: MQTT 3.1.1 has no negative
   * PUBACK [MQTT-3.3.5-2]). Leave unset for a plain broker, e.g. a test's "external" one.
   */
  readonly maxPayloadBytes?: number;
  /** Told about every refused publish, so the server can count it. */
  readonly onReject?: (rejection: PublishRejection & { readonly clientId: string | null }) => void;
  readonly logger?: Logger;
  /**
   * Identity and topic permissions [EF-PROTO 7.3]. When set, every CONNECT is rate-limited
   * and authenticated, and publish/subscribe/delivery follow its rules (its publish rule
   * includes the topic and size guard). Unset: the plain guard above.
   */
  readonly access?: BrokerAccess;
  /** Told about every refused CONNECT (rate limit, credentials, revocation). */
  readonly onRefused?: (refusal: { readonly clientId: string; readonly reason: string }) => void;
  /** PEM certificate and key: listen with TLS (mqtts) instead of plain TCP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /**
   * Limits on connections not yet accepted (issue 18, finding 2), applied with
   * `maxPayloadBytes`: the largest packet before CONNECT succeeded (default 16 KiB), how
   * many such connections one address may hold (default 128), and how long a CONNECT may
   * take to arrive (default 10 s). After CONNECT the largest packet is the largest payload
   * (chunks included) plus headroom for the topic.
   */
  readonly connections?: Partial<ConnectionLimits>;
}

/** A running aedes broker on a TCP port. */
export interface EmbeddedBroker {
  readonly port: number;
  readonly host: string;
  /** `mqtt://127.0.0.1:<port>` (loopback, whatever interface it listens on). */
  readonly url: string;
  /** Clients currently connected. */
  connectedClients(): number;
  /** Closes the connection of the client with this id, if connected; returns whether it was. */
  disconnect(clientId: string): boolean;
  /** Closes the TCP listener: no new connections; connected clients keep going. Idempotent. */
  stopAccepting(): void;
  /** Stops accepting, closes every client, then the broker. Idempotent. */
  close(): Promise<void>;
}

function listen(server: TcpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const hint =
        err.code === 'EADDRINUSE'
          ? ' (another MQTT broker, e.g. mosquitto, may be running; pick another --port or use --broker)'
          : '';
      reject(
        new EdgefleetError(
          'EF_ERR_BROKER_LISTEN',
          `embedded broker cannot listen on ${host}:${port}: ${err.message}${hint}`,
          { port, host, errno: err.code ?? null },
          { cause: err },
        ),
      );
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
      const payloadBytes =
        typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.byteLength;
      const rejection = checkPublish(packet.topic, payloadBytes, { maxPayloadBytes: max });
      if (!rejection) return callback(null);
      options.onReject?.({ ...rejection, clientId: client?.id ?? null });
      callback(new Error(`${rejection.reason}: ${rejection.detail}`));
    },
  };
}

function accessOptions(options: EmbeddedBrokerOptions, principals: WeakMap<Client, Principal>): Partial<AedesOptions> {
  const access = options.access;
  if (!access) return {};
  const refuse = (clientId: string, reason: string) => {
    options.logger?.info({ clientId: clientId.slice(0, 128), reason }, 'MQTT connection refused');
    options.onRefused?.({ clientId, reason });
  };
  return {
    preConnect(client, _packet, callback) {
      const address = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown';
      if (access.allowConnect(address)) return callback(null, true);
      refuse(client.id ?? '', 'rate-limited');
      callback(new Error('connect rate limit exceeded'), false);
    },
    authenticate(client, username, password, callback) {
      access.authenticate(client.id, username, password).then(
        (decision) => {
          if (decision.ok) {
            principals.set(client, decision.principal);
            return callback(null, true);
          }
          refuse(client.id, decision.reason);
          // Only the reason code reaches the client; the reason text stays in our log.
          callback(Object.assign(new Error('not authorized'), { returnCode: decision.returnCode }), false);
        },
        (err: unknown) => {
          // The store could not answer: refuse as "server unavailable" (3); the device retries with backoff.
          options.logger?.error({ err, clientId: client.id.slice(0, 128) }, 'MQTT authentication failed');
          refuse(client.id, 'auth-error');
          callback(Object.assign(new Error('server unavailable'), { returnCode: 3 }), false);
        },
      );
    },
    authorizePublish(client, packet, callback) {
      const payloadBytes =
        typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.byteLength;
      const rejection = access.authorizePublish(
        client ? (principals.get(client) ?? null) : null,
        packet.topic,
        payloadBytes,
      );
      if (!rejection) return callback(null);
      options.onReject?.({ ...rejection, clientId: client?.id ?? null });
      callback(new Error(`${rejection.reason}: ${rejection.detail}`));
    },
    authorizeSubscribe(client, subscription, callback) {
      const principal = principals.get(client);
      // null negates the subscription: SUBACK carries 0x80 for it [MQTT-3.9.3].
      callback(null, principal && access.authorizeSubscribe(principal, subscription.topic) ? subscription : null);
    },
    authorizeForward(client, packet) {
      const principal = principals.get(client);
      return principal && access.authorizeForward(principal, packet.topic) ? packet : null;
    },
  };
}

/**
 * Wraps each new socket in the packet gate (packet-gate.ts) when the broker guards payloads;
 * refuses the socket at once when its address already holds `maxPendingPerAddress`
 * connections that have not been accepted.
 */
function gatedHandler(
  options: EmbeddedBrokerOptions,
  limits: ConnectionLimits,
  handle: (conn: Socket) => void,
): (socket: Socket) => void {
  const max = options.maxPayloadBytes;
  if (max === undefined) return handle;
  const packetLimits: PacketLimits = {
    maxPacketBytes: Math.max(max, MAX_CHUNK_MESSAGE_BYTES) + PACKET_HEADROOM_BYTES,
    maxConnectPacketBytes: limits.maxConnectPacketBytes,
  };
  const pending = createPendingConnections(limits.maxPendingPerAddress);
  const refuse = (address: string, reason: string, detail: string) => {
    options.logger?.debug({ address, reason, detail }, 'MQTT connection refused before CONNECT');
    options.onRefused?.({ clientId: '', reason });
  };
  return (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    if (!pending.open(address)) {
      refuse(address, 'too-many-pending', `${limits.maxPendingPerAddress} connections not yet accepted`);
      socket.destroy();
      return;
    }
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      pending.settle(address);
    };
    const onOversize = (why: string, clientId: string | null) => {
      // From an accepted client it is one oversize message, counted like the publish guard's;
      // before CONNECT it is a refused connection.
      if (clientId === null) refuse(address, 'oversize-packet', why);
      else options.onReject?.({ reason: 'oversize', detail: why, deviceId: null, clientId });
    };
    const conn = new GatedConnection(socket, packetLimits, onOversize, settle);
    conn.once('close', settle);
    // aedes uses what a net.Socket offers of a duplex stream, plus remoteAddress, which the gate exposes.
    handle(conn as unknown as Socket);
  };
}

/**
 * aedes's emitter (mqemitter) holds 100 messages in flight and queues the rest; as one
 * finishes it starts the next queued one on the same stack. A message no subscriber matches
 * (a `telemetry-ack` to a device that is reconnecting, `$SYS` announcements) finishes
 * synchronously, so a queue of them recursed once per message, and at ~1,100 devices of
 * bench:scale the broker died with `RangeError: Maximum call stack size exceeded` (aedes#193;
 * the upstream fix, mqemitter#204, is unmerged). A catch-all listener that finishes on the
 * next turn gives every message an asynchronous subscriber, so each queued message starts
 * from a fresh stack. It costs one setImmediate per message; deliveries already take one.
 */
function finishEveryMessageLater(aedes: Aedes): void {
  // `mq` is aedes's emitter instance (aedes.js sets it; its types list it only as an option).
  const { mq } = aedes as unknown as {
    mq: { on(topic: string, notify: (packet: unknown, done: () => void) => void): unknown };
  };
  mq.on('#', (_packet, done) => setImmediate(done));
}

/**
 * aedes waits for a full socket to drain for `drainTimeout` ms and then destroys the connection
 * (client.js `waitForDrain`, called by write.js). For the server's own connection it waits as long
 * as it takes, as aedes does when no drain timeout is set. Replaced per client: the broker-wide
 * option must keep dropping slow devices, whose full sockets would otherwise stall every delivery.
 */
function waitForDrainWithoutDeadline(client: Client): void {
  const patient = client as unknown as {
    conn: { once(event: 'drain', listener: () => void): unknown };
    waitForDrain(callback: (err: Error | null, client: Client) => void): void;
  };
  if (typeof patient.waitForDrain !== 'function') throw new Error('aedes Client.waitForDrain is gone; see embedded.ts');
  // One listener for every write waiting, as aedes does: thousands can wait while the server is behind.
  let waiting: Array<(err: Error | null, client: Client) => void> = [];
  patient.waitForDrain = (callback) => {
    waiting.push(callback);
    if (waiting.length > 1) return;
    patient.conn.once('drain', () => {
      const drained = waiting;
      waiting = [];
      for (const done of drained) setImmediate(done, null, client);
    });
  };
}

/**
 * Starts aedes on a TCP port. The one module that imports aedes. The server uses it for its
 * default embedded mode; tests also use it as a stand-in "external" broker.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = options.logger;
  const principals = new WeakMap<Client, Principal>();
  const clients = new Map<string, Client>();
  const limits = { ...CONNECTION_DEFAULTS, ...options.connections };
  const aedes = await Aedes.createBroker({
    drainTimeout: options.drainTimeoutMs ?? 15_000,
    connectTimeout: limits.connectTimeoutMs,
    // Device ids are up to 64 characters; MQTT 3.1 would otherwise cap client ids at 23.
    maxClientsIdLength: 128,
    ...guardOptions(options),
    ...accessOptions(options, principals),
  });
  finishEveryMessageLater(aedes);
  aedes.on('client', (client) => {
    clients.set(client.id, client);
    if (client.id === options.ownClientId) waitForDrainWithoutDeadline(client);
  });
  // The larger packet limit applies once CONNACK 0 went out. Not on 'client': when a client
  // takes over its own id, aedes sends CONNACK before it emits 'client' (after the old
  // connection closed), and the client's first packets arrived judged by the CONNECT limit.
  aedes.on('connackSent', (packet, client) => {
    if (packet.returnCode === 0 && client.conn instanceof GatedConnection) client.conn.markAccepted(client.id);
  });
  aedes.on('clientDisconnect', (client) => {
    if (clients.get(client.id) === client) clients.delete(client.id);
  });
  aedes.on('clientError', (client, err) => log?.debug({ clientId: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log?.debug({ err: err.message }, 'connection error'));
  aedes.on('keepaliveTimeout', (client) =>
    log?.info({ clientId: client.id }, 'client keepalive expired; publishing its last will'),
  );
  const onSocket = gatedHandler(options, limits, (socket) => aedes.handle(socket));
  const server = options.tls
    ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onSocket)
    : createTcpServer(onSocket);
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
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    connectedClients: () => aedes.connectedClients,
    disconnect(clientId: string): boolean {
      const client = clients.get(clientId);
      if (!client) return false;
      clients.delete(clientId);
      client.close();
      return true;
    },
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
