/**
 * The agent's MQTT link: one connection per device, presence (hello, retained status with a
 * last will, heartbeats), reconnects with exponential backoff and jitter, and a validated
 * inbound edge. Everything device-side (the real agent and every simulated device) talks to
 * the broker through this module [EF-PROTO 2, 3].
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_KEEPALIVE_S,
  DEVICE_CHANNELS,
  EdgefleetError,
  MESSAGE_SCHEMAS,
  SERVER_CHANNELS,
  deviceTopic,
  encodeMessage,
  errnoCode,
  isValidDeviceId,
  systemClock,
  stripUndefined,
  type AnyMessage,
  type Clock,
  type DeviceChannel,
  type RandomSource,
  type RejectReason,
  type ServerChannel,
  type TimerHandle,
} from '@edgefleet/shared/device';
import { backoffDelay, DEFAULT_BACKOFF, validateBackoff, type BackoffPolicy } from './backoff.js';
import { createInboundGate } from './inbound.js';
import { buildHeartbeat, buildHello, buildStatus, PUBLISH_OPTIONS, type DeviceIdentity } from './messages.js';

export type LinkState = 'idle' | 'connecting' | 'online' | 'offline' | 'stopping' | 'stopped';

/**
 * Receives a validated message from one of the device's server-to-device channels; `null` means the server cleared
 * `desired`.
 */
export type InboundHandler = (message: AnyMessage | null) => void;

export interface AgentLinkOptions extends DeviceIdentity {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  readonly brokerUrl: string;
  readonly logger: Logger;
  /** Default: the process clock. */
  readonly clock?: Clock;
  /** Default: `Math.random`. Only used for reconnect jitter. */
  readonly random?: RandomSource;
  /**
   * MQTT keepalive in seconds; the broker declares the device lost after 1.5× this. Default
   * {@link DEFAULT_KEEPALIVE_S}.
   */
  readonly keepaliveS?: number;
  /** Heartbeat interval in ms. Default {@link DEFAULT_HEARTBEAT_MS}. */
  readonly heartbeatMs?: number;
  /** Reconnect backoff. Default {@link DEFAULT_BACKOFF}. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** How long one connection attempt may take before it counts as failed, in ms. Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Largest inbound payload accepted, in bytes. Default: the shared limit (256 KiB). */
  readonly maxPayloadBytes?: number;
  /** sha256 of the model being served, reported in hello and heartbeats. Default: always null. */
  readonly currentModel?: () => string | null;
  /** Longest wait for the broker to acknowledge the offline status on a clean stop, in ms. Default 2 000. */
  readonly stopTimeoutMs?: number;
}

export interface LinkStats {
  readonly state: LinkState;
  /** Successful CONNACKs. */
  readonly connects: number;
  /** Connections lost after being online (not counting clean stops). */
  readonly connectionsLost: number;
  /** Reconnect attempts started after a failure or loss. */
  readonly reconnectAttempts: number;
  /** Delay chosen for the most recent reconnect, in ms (null before the first). */
  readonly lastReconnectDelayMs: number | null;
  readonly heartbeatsSent: number;
  readonly published: Readonly<Record<DeviceChannel, number>>;
  /** Inbound messages accepted and dispatched. */
  readonly received: number;
  /** The same, per server-to-device channel (scenarios compare these with what the server sent). */
  readonly receivedBy: Readonly<Record<ServerChannel, number>>;
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /** Inbound handlers that threw. */
  readonly handlerErrors: number;
}

export interface AgentLink {
  readonly deviceId: string;
  /** Starts connecting; resolves once online the first time. Broker outages are retried, not rejected. */
  start(): Promise<void>;
  /**
   * `clean` (default true): publish the retained offline status and DISCONNECT; false: drop the socket (the broker
   * publishes the will).
   */
  stop(options?: { readonly clean?: boolean }): Promise<void>;
  /**
   * Fault injection: `false` drops the connection without DISCONNECT, as a lost network
   * does (the broker publishes the will), and fails every reconnect attempt until `true`
   * again; reconnects then follow the usual backoff. Simulators use it for disconnects and
   * crashes; a stopped link ignores it.
   */
  setReachable(reachable: boolean): void;
  /** Publishes on one of the device's own channels; rejects with EF_ERR_LINK_OFFLINE when not online. */
  publish(channel: DeviceChannel, message: AnyMessage): Promise<void>;
  /** Registers a handler for a server-to-device channel; returns a function that removes it. */
  on(channel: ServerChannel, handler: InboundHandler): () => void;
  /** Calls `listener` after every CONNACK (the telemetry outbox drains then); returns a function that removes it. */
  onOnline(listener: () => void): () => void;
  stats(): LinkStats;
}

function zeroPublished(): Record<DeviceChannel, number> {
  return Object.fromEntries(DEVICE_CHANNELS.map((c) => [c, 0])) as Record<DeviceChannel, number>;
}

function zeroReceived(): Record<ServerChannel, number> {
  return Object.fromEntries(SERVER_CHANNELS.map((c) => [c, 0])) as Record<ServerChannel, number>;
}

/** A promise with its settle functions (Node 20 has no Promise.withResolvers); never an unhandled rejection. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve: () => void = () => undefined;
  let reject: (err: Error) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Creates a link; nothing touches the network until `start()`. */
export function createAgentLink(options: AgentLinkOptions): AgentLink {
  if (!isValidDeviceId(options.deviceId)) throw new TypeError(`invalid device id ${JSON.stringify(options.deviceId)}`);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const keepaliveS = options.keepaliveS ?? DEFAULT_KEEPALIVE_S;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const backoff = validateBackoff({ ...DEFAULT_BACKOFF, ...options.backoff });
  const currentModel = options.currentModel ?? (() => null);
  const { deviceId } = options;
  const log = options.logger.child({ component: 'link', deviceId });
  const gate = createInboundGate({
    deviceId,
    logger: log,
    clock,
    ...stripUndefined({ maxPayloadBytes: options.maxPayloadBytes }),
  });
  const handlers = new Map<ServerChannel, Set<InboundHandler>>();
  const onlineListeners = new Set<() => void>();
  const published = zeroPublished();
  const receivedBy = zeroReceived();
  const counters = {
    connects: 0,
    connectionsLost: 0,
    reconnectAttempts: 0,
    heartbeatsSent: 0,
    received: 0,
    handlerErrors: 0,
  };
  let lastReconnectDelayMs: number | null = null;
  let state: LinkState = 'idle';
  let reachable = true;
  let client: MqttClient | null = null;
  let attempt = 0;
  let heartbeatSeq = 0;
  let startedAt = 0;
  let heartbeatTimer: TimerHandle | null = null;
  let reconnectTimer: TimerHandle | null = null;
  const lastErrorLog = new Map<string, number>();
  const firstOnline = deferred();

  const willMessage = (): Buffer => encodeMessage(buildStatus(deviceId, 'offline', 'lost', clock.now()));
  const clientOptions = (): IClientOptions => ({
    clientId: deviceId,
    protocolVersion: 4,
    // A persistent session keeps the device's subscriptions (and QoS 1 commands) across
    // short outages; the fixed client id makes it the same session [MQTT-3.1.2-4].
    clean: false,
    keepalive: keepaliveS,
    // mqtt.js only retries at a fixed period; we drive reconnects ourselves with backoff.
    reconnectPeriod: 0,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Never grow an in-memory queue of QoS 0 messages while offline.
    queueQoSZero: false,
    resubscribe: false,
    // mqtt-packet otherwise builds a cache of 65,536 two-byte Buffers (every 16-bit number it
    // might write) at the first packet: ~7 MB of V8 heap for an agent that sends a few packets a
    // minute (measured with a heap snapshot; docs/design-notes.md, "Device agent").
    writeCache: false,
    will: { topic: deviceTopic(deviceId, 'status'), payload: willMessage(), qos: 1, retain: true },
  });

  function clearTimers(): void {
    if (heartbeatTimer) clock.clearTimeout(heartbeatTimer);
    if (reconnectTimer) clock.clearTimeout(reconnectTimer);
    heartbeatTimer = null;
    reconnectTimer = null;
  }

  function logErrorThrottled(err: Error): void {
    const key = errnoCode(err) ?? err.message;
    const now = clock.now();
    const last = lastErrorLog.get(key);
    if (last !== undefined && now - last < 60_000) return;
    lastErrorLog.set(key, now);
    log.warn({ err: { message: err.message, code: key } }, 'broker connection problem; will retry');
  }

  function send(channel: DeviceChannel, message: AnyMessage): Promise<void> {
    const c = client;
    if (state !== 'online' || !c?.connected) {
      return Promise.reject(
        new EdgefleetError(
          'EF_ERR_LINK_OFFLINE',
          `device ${deviceId} is not connected to the broker; publish ${message.type} again after it reconnects`,
          { deviceId, channel },
        ),
      );
    }
    const { qos, retain } = PUBLISH_OPTIONS[channel];
    published[channel] += 1;
    return c
      .publishAsync(deviceTopic(deviceId, channel), encodeMessage(message), { qos, retain })
      .then(() => undefined);
  }

  function scheduleHeartbeat(): void {
    heartbeatTimer = clock.setTimeout(() => {
      heartbeatTimer = null;
      if (state !== 'online') return;
      const beat = buildHeartbeat(deviceId, heartbeatSeq, clock.now() - startedAt, currentModel(), clock.now());
      heartbeatSeq += 1;
      counters.heartbeatsSent += 1;
      send('heartbeat', beat).catch((err: unknown) => log.debug({ err }, 'heartbeat not sent'));
      scheduleHeartbeat();
    }, heartbeatMs);
  }

  function handleConnect(): void {
    if (state === 'stopping' || state === 'stopped') return;
    state = 'online';
    attempt = 0;
    counters.connects += 1;
    const c = client as MqttClient;
    const topics = Object.fromEntries(SERVER_CHANNELS.map((ch) => [deviceTopic(deviceId, ch), { qos: 1 as const }]));
    // Subscribe on every connect: with reconnectPeriod 0 mqtt.js does not resubscribe, and a
    // broker that lost our session (restart, sessionPresent=false) has forgotten them.
    c.subscribeAsync(topics).catch((err: unknown) => log.warn({ err }, 'subscribe failed'));
    const now = clock.now();
    Promise.all([
      send('hello', buildHello(options, currentModel(), now)),
      send('status', buildStatus(deviceId, 'online', 'connect', now)),
    ]).catch((err: unknown) => log.debug({ err }, 'presence not sent; the next connect repeats it'));
    log.info({ connects: counters.connects }, 'online');
    if (heartbeatTimer) clock.clearTimeout(heartbeatTimer);
    scheduleHeartbeat();
    firstOnline.resolve();
    for (const listener of onlineListeners) {
      try {
        listener();
      } catch (err: unknown) {
        log.error({ err }, 'online listener failed');
      }
    }
  }

  function handleClose(): void {
    if (heartbeatTimer) clock.clearTimeout(heartbeatTimer);
    heartbeatTimer = null;
    if (state === 'stopping' || state === 'stopped' || state === 'idle') return;
    if (state === 'online') {
      counters.connectionsLost += 1;
      log.warn('connection lost');
    }
    state = 'offline';
    if (reconnectTimer) return;
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    const delay = backoffDelay(attempt, backoff, random);
    attempt += 1;
    lastReconnectDelayMs = delay;
    reconnectTimer = clock.setTimeout(reconnect, delay);
  }

  function reconnect(): void {
    reconnectTimer = null;
    const c = client;
    if (!c || state !== 'offline') return;
    counters.reconnectAttempts += 1;
    // No network (fault injection): the attempt fails at once, and the next waits its backoff.
    if (!reachable) {
      scheduleReconnect();
      return;
    }
    state = 'connecting';
    // The will's sentAt should say when this connection began, not the first one.
    if (c.options.will) c.options.will.payload = willMessage();
    // Keep the stores so QoS 1 messages in flight at the loss are resent [MQTT-4.4.0-1].
    c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
  }

  function handleMessage(topic: string, payload: Buffer): void {
    const result = gate.accept(topic, payload);
    if (result.kind === 'rejected') return;
    counters.received += 1;
    receivedBy[result.channel] += 1;
    const message = result.kind === 'message' ? result.message : null;
    for (const handler of handlers.get(result.channel) ?? []) {
      try {
        handler(message);
      } catch (err: unknown) {
        counters.handlerErrors += 1;
        log.error({ err, channel: result.channel }, 'inbound handler failed');
      }
    }
  }

  function start(): Promise<void> {
    if (state !== 'idle') return firstOnline.promise;
    state = 'connecting';
    startedAt = clock.now();
    const c = mqtt.connect(options.brokerUrl, clientOptions());
    client = c;
    c.on('connect', handleConnect);
    c.on('close', handleClose);
    c.on('message', handleMessage);
    c.on('error', logErrorThrottled);
    return firstOnline.promise;
  }

  async function stop(stopOptions: { readonly clean?: boolean } = {}): Promise<void> {
    if (state === 'stopped' || state === 'stopping') return;
    const wasOnline = state === 'online';
    state = 'stopping';
    clearTimers();
    firstOnline.reject(new Error(`link of ${deviceId} stopped before it came online`));
    const c = client;
    if (c) await endClient(c, wasOnline && stopOptions.clean !== false);
    state = 'stopped';
    log.info({ clean: stopOptions.clean !== false }, 'stopped');
  }

  async function endClient(c: MqttClient, clean: boolean): Promise<void> {
    if (!clean) {
      await c.endAsync(true);
      return;
    }
    const timeoutMs = options.stopTimeoutMs ?? 2_000;
    const offline = encodeMessage(buildStatus(deviceId, 'offline', 'clean', clock.now()));
    const graceful = (async () => {
      await c.publishAsync(deviceTopic(deviceId, 'status'), offline, PUBLISH_OPTIONS.status);
      published.status += 1;
      await c.endAsync(false);
    })();
    let timer: TimerHandle | null = null;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = clock.setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([
      graceful.then(
        () => 'done' as const,
        () => 'failed' as const,
      ),
      timeout,
    ]);
    if (timer) clock.clearTimeout(timer);
    if (outcome !== 'done') {
      log.warn({ outcome }, 'clean disconnect did not complete; dropping the connection');
      await c.endAsync(true);
    }
  }

  function setReachable(next: boolean): void {
    if (reachable === next || state === 'stopped' || state === 'stopping') return;
    reachable = next;
    // Destroying the socket looks like a lost network to both ends: mqtt.js emits close
    // (handleClose schedules the reconnect) and the broker publishes the will.
    if (!next && client && (state === 'online' || state === 'connecting')) client.stream?.destroy();
  }

  function on(channel: ServerChannel, handler: InboundHandler): () => void {
    const set = handlers.get(channel) ?? new Set<InboundHandler>();
    set.add(handler);
    handlers.set(channel, set);
    return () => {
      set.delete(handler);
    };
  }

  function publish(channel: DeviceChannel, message: AnyMessage): Promise<void> {
    const entry = MESSAGE_SCHEMAS[message.type];
    if (entry.channel !== channel)
      throw new TypeError(`a ${message.type} message does not belong on channel ${channel}`);
    const checked = entry.schema.safeParse(message);
    if (!checked.success) throw new TypeError(`outbound ${message.type} fails its schema: ${checked.error.message}`);
    return send(channel, message);
  }

  function stats(): LinkStats {
    return {
      state,
      ...counters,
      lastReconnectDelayMs,
      published: { ...published },
      receivedBy: { ...receivedBy },
      rejected: gate.rejected(),
    };
  }

  function onOnline(listener: () => void): () => void {
    onlineListeners.add(listener);
    return () => {
      onlineListeners.delete(listener);
    };
  }

  return Object.freeze({ deviceId, start, stop, setReachable, publish, on, onOnline, stats });
}
