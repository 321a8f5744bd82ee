/**
 * How telemetry leaves the device [EF-PROTO 8.2]: the transport the outbox drains through,
 * the two delivery rules, and the adapter over the agent's MQTT link that every real and
 * simulated device uses.
 */
import type { Logger } from 'pino';
import type { AnyMessage, TelemetryAck } from '@edgefleet/shared/device';
import type { AgentLink } from '../link/agent-link.js';
import type { Clock } from '@edgefleet/shared/device';
import type { Outbox, OutboxChannel } from './outbox.js';

/**
 * When an outbox entry counts as delivered:
 * - `server-ack` (the agent's default): once the edgefleet server acknowledged it on
 *   `telemetry-ack`, after committing it to its store. Survives broker restarts that lose
 *   sessions and failed server batches.
 * - `broker-ack`: once the broker acknowledged the publish (PUBACK). Only for a caller that
 *   honestly has no edgefleet server behind the broker (a bare broker, another collector):
 *   a broker that drops the message after PUBACK loses it.
 */
export type TelemetryDelivery = 'server-ack' | 'broker-ack';

/** `unpublishable`: the message can never be sent (it fails its schema); the outbox skips it. */
export type PublishOutcome = 'published' | 'unpublishable';

/** What telemetry needs of the link. */
export interface TelemetryTransport {
  /** Publishes at QoS 1; resolves on the broker's PUBACK, rejects when offline or on failure. */
  publish(channel: OutboxChannel, message: AnyMessage): Promise<PublishOutcome>;
  isOnline(): boolean;
  /** Calls `listener` each time the link comes online; returns an unsubscribe function. */
  onOnline(listener: () => void): () => void;
  /**
   * Calls `listener` with each validated `telemetry-ack` for this device; returns an
   * unsubscribe function. Required by `server-ack` delivery.
   */
  onAck?(listener: (ack: TelemetryAck) => void): () => void;
}

/** Counters every delivery keeps; under `broker-ack` the acknowledgement ones stay zero. */
export interface DeliveryStats {
  /** Outbox entries that left as delivered. */
  readonly delivered: number;
  readonly publishFailures: number;
  /** Entries skipped because they can never be sent (they fail their schema). */
  readonly unpublishable: number;
  /** Entries published and waiting for the server's acknowledgement. */
  readonly awaitingAck: number;
  /** Entries the server acknowledged. */
  readonly acked: number;
  /** Acknowledgements of an entry already acknowledged and still waiting for older ones. */
  readonly duplicateAcks: number;
  /**
   * Acknowledged windows or events that match no entry awaiting acknowledgement (already delivered, dropped, or never
   * sent).
   */
  readonly unmatchedAcks: number;
  /** Entries published again (after a reconnect or an acknowledgement timeout). */
  readonly resends: number;
}

/** One way of draining the outbox; telemetry-service.ts picks one. */
export interface Delivery {
  /** Publishes what is due while online; resolves when this round's publishes settled. */
  flush(): Promise<void>;
  /** The link is online again (after a loss or for the first time). */
  reconnected(): void;
  start(): void;
  stop(): void;
  stats(): DeliveryStats;
}

export interface DeliveryOptions {
  readonly outbox: Outbox;
  readonly transport: TelemetryTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxInFlight: number;
}

/**
 * The transport over an agent link. The link's inbound edge has already parsed every
 * `telemetry-ack` with its schema and counted the rejects (`link.stats().rejected`).
 */
export function createLinkTransport(link: AgentLink, logger: Logger): TelemetryTransport {
  return {
    publish: async (channel, message) => {
      try {
        await link.publish(channel, message);
        return 'published';
      } catch (err: unknown) {
        // link.publish throws a TypeError only when the message fails its schema; anything else is a delivery failure.
        if (!(err instanceof TypeError)) throw err;
        // A schema failure (an entry written by another agent version) would block the outbox forever.
        logger.error({ err, type: message.type }, 'outbox entry fails its schema; skipping it');
        return 'unpublishable';
      }
    },
    isOnline: () => link.stats().state === 'online',
    onOnline: (listener) => link.onOnline(listener),
    onAck: (listener) =>
      link.on('telemetry-ack', (message) => {
        if (message?.type === 'telemetry-ack') listener(message);
      }),
  };
}
