/**
 * The server's one inbound edge for device topics [EF-PROTO 1]: every message the broker
 * client receives on `ef/v1/devices/+/…` is decoded here exactly once, a rejection is
 * counted here exactly once (by reason), and what decodes goes to the handler registered
 * for its `type`. Presence, telemetry and the deployer register handlers; none of them
 * decodes or counts again. (Before this, presence decoded every channel and telemetry and
 * the chunk server decoded theirs as well, so one bad `telemetry` was counted twice.)
 */
import { decodeMessage, type AnyMessage, type MessageOf, type MessageType, type RejectReason } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { MessageInfo } from './client.js';

/** What a rejected message is reported as (the server's rejection counter takes it). */
export interface InboundRejection {
  readonly reason: RejectReason;
  readonly detail: string;
  readonly deviceId: string | null;
}

export interface InboundRouterOptions {
  /** Largest ordinary payload; `chunks` excepted [EF-PROTO 5]. */
  readonly maxPayloadBytes?: number;
  /** Told about every message that does not decode, once each. */
  readonly onReject: (rejection: InboundRejection) => void;
  readonly logger: Logger;
  /**
   * Refuses a message before it is decoded (reserved device ids, for one); returns the
   * rejection to count, or null to go on.
   */
  readonly screen?: (deviceId: string) => InboundRejection | null;
}

export type InboundHandler<T extends MessageType> = (message: MessageOf<T>, info: MessageInfo) => void;

export interface InboundStats {
  /** Device-topic messages seen. */
  readonly received: number;
  /** Messages that decoded and had a handler. */
  readonly dispatched: number;
  /** Messages refused (each counted once through `onReject`). */
  readonly rejected: number;
  /** Messages that decoded but no handler wanted (e.g. a server→device type echoed back). */
  readonly unhandled: number;
  /** Handlers that threw; the message was dropped and logged. Should stay 0. */
  readonly handlerErrors: number;
}

export interface InboundRouter {
  /** Entry point for the broker client (`client.onMessage`); ignores topics outside the device tree. Never throws. */
  handleMessage(topic: string, payload: Buffer, info: MessageInfo): void;
  /** Registers the handler of one message type (one per type); returns a function that removes it. */
  on<T extends MessageType>(type: T, handler: InboundHandler<T>): () => void;
  stats(): InboundStats;
}

const DEVICE_TOPIC_PREFIX = 'ef/v1/devices/';

export function createInboundRouter(options: InboundRouterOptions): InboundRouter {
  const handlers = new Map<MessageType, InboundHandler<MessageType>>();
  const decodeOptions = options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes };
  const stats = { received: 0, dispatched: 0, rejected: 0, unhandled: 0, handlerErrors: 0 };

  function refuse(rejection: InboundRejection): void {
    stats.rejected += 1;
    options.onReject(rejection);
  }

  function dispatch(message: AnyMessage, info: MessageInfo): void {
    const handler = handlers.get(message.type);
    if (!handler) {
      stats.unhandled += 1;
      return;
    }
    stats.dispatched += 1;
    try {
      handler(message as MessageOf<MessageType>, info);
    } catch (err: unknown) {
      // A handler bug or a store failure must not take the server down; the device resends.
      stats.handlerErrors += 1;
      options.logger.error({ err, type: message.type }, 'inbound message handler failed; message dropped');
    }
  }

  return {
    handleMessage(topic, payload, info) {
      // Enrollment and anything else outside the device tree belong to other handlers.
      if (!topic.startsWith(DEVICE_TOPIC_PREFIX)) return;
      stats.received += 1;
      const deviceId = topic.split('/')[3];
      const screened = deviceId === undefined ? null : (options.screen?.(deviceId) ?? null);
      if (screened) return refuse(screened);
      const decoded = decodeMessage(topic, payload, decodeOptions);
      if (!decoded.ok) return refuse({ reason: decoded.reason, detail: decoded.detail, deviceId: decoded.deviceId });
      dispatch(decoded.message, info);
    },
    on(type, handler) {
      if (handlers.has(type)) throw new Error(`an inbound handler for ${type} is already registered`);
      handlers.set(type, handler as InboundHandler<MessageType>);
      return () => {
        if (handlers.get(type) === (handler as InboundHandler<MessageType>)) handlers.delete(type);
      };
    },
    stats: () => ({ ...stats }),
  };
}
