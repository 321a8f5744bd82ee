import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { EdgefleetError, parseTopic, asError, stripUndefined } from '@edgefleet/shared';
import { redactUrl, type Logger } from '../log/logger.js';
import { createOutageTracker, DEFAULT_RECONNECT_BACKOFF, type ReconnectBackoff } from './reconnect.js';

export type QoS = 0 | 1 | 2;

/** Delivery details a handler may need. */
export interface MessageInfo {
  /** True when the broker replayed a stored retained message on subscribe. */
  readonly retained: boolean;
}

/** Handler for one inbound message; it must not throw (errors are logged and dropped). */
export type MessageHandler = (topic: string, payload: Buffer, info: MessageInfo) => void;

/**
 * What the server's logic knows of MQTT. The same implementation serves the embedded broker
 * (an mqtt.js client on loopback) and an external one (mqtt.js to its URL), so both modes run
 * one code path.
 */
export interface BrokerClient {
  publish(topic: string, payload: Buffer | string, options?: { qos?: QoS; retain?: boolean }): Promise<void>;
  /**
   * Subscribes; with a share group, device topics (`ef/…`) go through `$share/<group>/`, or
   * `$share/<group>-<subgroup>/` when a subgroup is named: a group of its own, so the broker
   * hands every message to one member of each group, and leaving one group (unsubscribing)
   * never cuts off the other's subscription to the same topics.
   */
  subscribe(filters: readonly string[], qos?: QoS, subgroup?: string): Promise<void>;
  /** Unsubscribes what `subscribe` subscribed with the same subgroup. */
  unsubscribe(filters: readonly string[], subgroup?: string): Promise<void>;
  /** Registers a handler; returns a function that removes it. */
  onMessage(handler: MessageHandler): () => void;
  readonly connected: boolean;
  /**
   * Messages this client received and published, by edgefleet channel (`enroll`, or `other` for topics outside the
   * scheme).
   */
  traffic(): MqttTraffic;
  /** The same for one device's topics; null before the first message to or from it. */
  deviceTraffic(deviceId: string): MqttTraffic | null;
  /** Disconnects cleanly (sends DISCONNECT). Idempotent. */
  close(): Promise<void>;
}

/** Message counts by channel: what the server heard and what it sent. */
export interface MqttTraffic {
  readonly received: Readonly<Record<string, number>>;
  readonly published: Readonly<Record<string, number>>;
}

interface TrafficCounts {
  readonly received: Record<string, number>;
  readonly published: Record<string, number>;
}

/**
 * Counts messages per channel, in total and per device: operators read them as metrics, and
 * virtual-clock scenarios compare them with what each device sent and heard to know the broker
 * has delivered everything before time moves on.
 */
function createTrafficCounter() {
  const total: TrafficCounts = { received: {}, published: {} };
  const perDevice = new Map<string, TrafficCounts>();
  const bump = (into: Record<string, number>, channel: string): void => {
    into[channel] = (into[channel] ?? 0) + 1;
  };
  const copy = (c: TrafficCounts): MqttTraffic => ({ received: { ...c.received }, published: { ...c.published } });
  return {
    count(direction: keyof TrafficCounts, topic: string): void {
      const parsed = parseTopic(topic);
      const channel = parsed?.channel ?? (topic.startsWith('ef/v1/enroll/') ? 'enroll' : 'other');
      bump(total[direction], channel);
      if (!parsed) return;
      let mine = perDevice.get(parsed.deviceId);
      if (!mine) {
        mine = { received: {}, published: {} };
        perDevice.set(parsed.deviceId, mine);
      }
      bump(mine[direction], channel);
    },
    total: (): MqttTraffic => copy(total),
    device: (deviceId: string): MqttTraffic | null => {
      const c = perDevice.get(deviceId);
      return c ? copy(c) : null;
    },
  };
}

export interface BrokerClientOptions {
  /** `mqtt://host:port`. */
  readonly url: string;
  readonly clientId: string;
  readonly logger: Logger;
  /** Keepalive in seconds; 0 sends no pings and never times the connection out. Default 30. */
  readonly keepaliveS?: number;
  /** ms to wait for the first CONNACK. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** MQTT user name and password (the server's own credential); never logged. */
  readonly username?: string;
  readonly password?: string;
  /**
   * For `mqtts://` to the server's own embedded broker: trust exactly this certificate and
   * skip the host-name check (the certificate names the public host, we dial loopback).
   */
  readonly pinnedCert?: string | Buffer;
  /**
   * Server replicas: subscribe to device topics as members of this MQTT 5 shared subscription
   * group (`$share/<group>/ef/v1/…`), so the broker hands each device message to one replica.
   * Connects with MQTT 5 when set. Subscriptions outside `ef/` (the dynamic security plugin's
   * responses, which every replica needs for its own requests) stay plain.
   */
  readonly shareGroup?: string;
  /**
   * How reconnect attempts back off while the broker is down; default DEFAULT_RECONNECT_BACKOFF (1 s doubling to 30 s).
   */
  readonly reconnect?: ReconnectBackoff;
  /** Clock and randomness of the backoff; defaults Date.now and Math.random. */
  readonly now?: () => number;
  readonly random?: () => number;
}

/** The filter a replica subscribes to: shared for device topics when a group is set. */
export function sharedFilter(filter: string, group: string | undefined, subgroup?: string): string {
  if (group === undefined || !filter.startsWith('ef/')) return filter;
  return `$share/${subgroup === undefined ? group : `${group}-${subgroup}`}/${filter}`;
}

/**
 * The parts of mqtt.js's client that schedule reconnects. mqtt.js retries at a fixed
 * `reconnectPeriod` on an interval it sets up once per outage; to back off, the period is
 * changed and the interval set up again after every failed attempt. Both methods exist in
 * mqtt 5 (client.ts); test/unit/broker-reconnect.test.ts fails if they go away.
 */
interface ReconnectTimerInternals {
  options: { reconnectPeriod?: number };
  _clearReconnect(): void;
  _setupReconnect(): void;
}

/** mqtt.js's reconnect scheduling, or null when this mqtt version lacks it (then its fixed period stays). */
function reconnectInternals(client: MqttClient): ReconnectTimerInternals | null {
  const c = client as unknown as Partial<ReconnectTimerInternals>;
  return typeof c._clearReconnect === 'function' && typeof c._setupReconnect === 'function'
    ? (c as ReconnectTimerInternals)
    : null;
}

/** Connects to a broker; throws `EF_ERR_BROKER_CONNECT` if the first connection fails. */
export async function createBrokerClient(options: BrokerClientOptions): Promise<BrokerClient> {
  const log = options.logger;
  const mqttOptions: IClientOptions = {
    clientId: options.clientId,
    // MQTT 5 for shared subscriptions; 3.1.1 otherwise (aedes, the embedded broker, speaks only that).
    protocolVersion: options.shareGroup === undefined ? 4 : 5,
    clean: true,
    keepalive: options.keepaliveS ?? 30,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    reconnectPeriod: (options.reconnect ?? DEFAULT_RECONNECT_BACKOFF).initialMs,
    // A subscribe made while disconnected is replayed on reconnect.
    resubscribe: true,
    ...stripUndefined({ username: options.username, password: options.password }),
    ...(options.pinnedCert === undefined ? {} : { ca: options.pinnedCert, checkServerIdentity: () => undefined }),
  };
  let client: MqttClient;
  try {
    client = await connectAsync(options.url, mqttOptions, false);
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_BROKER_CONNECT',
      `cannot connect to MQTT broker ${redactUrl(options.url)}: ${asError(err).message}; check that it runs and the ` +
        `URL is right`,
      { url: redactUrl(options.url) },
      { cause: err },
    );
  }
  const handlers = new Set<MessageHandler>();
  const traffic = createTrafficCounter();
  client.on('message', (topic, payload, packet) => {
    traffic.count('received', topic);
    // [MQTT-3.3.1-9]: retain is set on delivery only for stored messages sent on subscribe.
    const info: MessageInfo = { retained: packet.retain };
    for (const handler of handlers) {
      try {
        handler(topic, payload, info);
      } catch (err: unknown) {
        log.error({ err, topic }, 'message handler threw; message dropped');
      }
    }
  });
  let closing: Promise<void> | null = null;
  watchOutages(client, options, () => closing !== null);
  return {
    async publish(topic, payload, publishOptions = {}) {
      traffic.count('published', topic);
      await client.publishAsync(topic, payload, {
        qos: publishOptions.qos ?? 1,
        retain: publishOptions.retain ?? false,
      });
    },
    async subscribe(filters, qos = 1, subgroup) {
      const wanted = filters.map((f) => sharedFilter(f, options.shareGroup, subgroup));
      const refused = (topics: readonly string[], cause?: unknown) =>
        new EdgefleetError(
          'EF_ERR_BROKER_CONNECT',
          `broker refused subscriptions ${topics.join(', ')}; check its ACLs (for mosquitto's dynamic security ` +
            'plugin, stop mosquitto and rewrite its file with `edgefleet broker-config mosquitto --dynsec`)',
          { topics: topics.join(', ') },
          cause === undefined ? undefined : { cause },
        );
      let granted: Awaited<ReturnType<MqttClient['subscribeAsync']>>;
      try {
        granted = await client.subscribeAsync(wanted, { qos });
      } catch (err: unknown) {
        // MQTT 5: mqtt.js rejects when any SUBACK reason code is a failure (mosquitto: 0x87 not authorized).
        const codes = (err as { packet?: { granted?: unknown } }).packet?.granted;
        if (!Array.isArray(codes)) throw err;
        throw refused(
          wanted.filter((_, i) => typeof codes[i] === 'number' && codes[i] >= 128),
          err,
        );
      }
      const denied = granted.filter((g) => g.qos >= 128);
      if (denied.length > 0) throw refused(denied.map((g) => g.topic));
    },
    async unsubscribe(filters, subgroup) {
      await client.unsubscribeAsync(filters.map((f) => sharedFilter(f, options.shareGroup, subgroup)));
    },
    onMessage(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    get connected() {
      return client.connected;
    },
    traffic: traffic.total,
    deviceTraffic: traffic.device,
    close() {
      closing ??= client.endAsync(false).then(() => undefined);
      return closing;
    },
  };
}

/** Logs an outage once (and its end once) and backs reconnect attempts off while it lasts. */
function watchOutages(client: MqttClient, options: BrokerClientOptions, closing: () => boolean): void {
  const outage = createOutageTracker({
    logger: options.logger,
    url: redactUrl(options.url),
    now: options.now ?? Date.now,
    ...stripUndefined({ random: options.random, backoff: options.reconnect }),
  });
  // An error while we end the connection ourselves (EPIPE on the DISCONNECT at shutdown) is no outage.
  client.on('error', (err) => {
    if (!closing()) outage.error(err);
  });
  const timer = reconnectInternals(client);
  client.on('connect', () => {
    outage.connected();
    if (timer) timer.options.reconnectPeriod = (options.reconnect ?? DEFAULT_RECONNECT_BACKOFF).initialMs;
  });
  client.on('reconnect', () => options.logger.debug('MQTT reconnecting'));
  // Runs after mqtt.js's own close handler, which has set up its fixed-period retry interval.
  client.on('close', () => {
    if (closing()) return;
    const wait = outage.closed();
    if (!timer) return;
    timer._clearReconnect();
    timer.options.reconnectPeriod = wait;
    timer._setupReconnect();
  });
}
