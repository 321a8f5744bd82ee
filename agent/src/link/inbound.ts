/**
 * The agent's inbound edge: every payload on the device's own server-to-device channels is
 * decoded with the shared decoder, and anything rejected is counted per reason and logged
 * at most once per reason per minute, so a flood of garbage cannot flood the log [EF-PROTO 1].
 */
import {
  decodeMessage,
  parseTopic,
  REJECT_REASONS,
  type AnyMessage,
  type RejectReason,
  type ServerChannel,
} from '@edgefleet/shared/device';
import type { Logger } from 'pino';
import type { Clock } from '@edgefleet/shared/device';

/** Minimum time between two log lines about the same reject reason. */
export const REJECT_LOG_INTERVAL_MS = 60_000;

export type InboundResult =
  | { readonly kind: 'message'; readonly channel: ServerChannel; readonly message: AnyMessage }
  /** A zero-length publish on `desired`: the server withdrew the desired state. */
  | { readonly kind: 'cleared'; readonly channel: ServerChannel }
  | { readonly kind: 'rejected'; readonly reason: RejectReason };

export interface InboundGate {
  /** Decodes one inbound publish; never throws. */
  accept(topic: string, payload: Uint8Array): InboundResult;
  /** Rejections so far, per reason (every reason present, zero included). */
  rejected(): Record<RejectReason, number>;
}

export interface InboundGateOptions {
  readonly deviceId: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly maxPayloadBytes?: number;
}

function zeroCounts(): Record<RejectReason, number> {
  return Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
}

export function createInboundGate(options: InboundGateOptions): InboundGate {
  const counts = zeroCounts();
  const lastLogged = new Map<RejectReason, number>();
  const suppressed = new Map<RejectReason, number>();
  const decodeOptions = options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes };

  function handleReject(reason: RejectReason, detail: string, topic: string): InboundResult {
    counts[reason] += 1;
    const now = options.clock.now();
    const last = lastLogged.get(reason);
    if (last === undefined || now - last >= REJECT_LOG_INTERVAL_MS) {
      const skipped = suppressed.get(reason) ?? 0;
      options.logger.warn(
        { reason, topic: topic.slice(0, 200), detail: detail.slice(0, 500), suppressedSinceLastLog: skipped },
        'rejected inbound message',
      );
      lastLogged.set(reason, now);
      suppressed.set(reason, 0);
    } else {
      suppressed.set(reason, (suppressed.get(reason) ?? 0) + 1);
    }
    return { kind: 'rejected', reason };
  }

  function accept(topic: string, payload: Uint8Array): InboundResult {
    // [MQTT-3.3.1-10] a zero-length retained publish clears the retained message; the server
    // uses it to withdraw desired state [EF-PROTO 2], which is not an error. The retain flag
    // cannot tell us this: brokers clear it on live forwards [MQTT-3.3.1-9].
    if (payload.byteLength === 0) {
      const parsed = parseTopic(topic);
      if (parsed?.deviceId === options.deviceId && parsed.channel === 'desired')
        return { kind: 'cleared', channel: 'desired' };
    }
    const result = decodeMessage(topic, payload, decodeOptions);
    if (result.ok) {
      if (result.topic.deviceId !== options.deviceId) {
        return handleReject(
          'device-mismatch',
          `message for ${result.topic.deviceId} reached ${options.deviceId}`,
          topic,
        );
      }
      if (result.topic.direction !== 'server-to-device') {
        return handleReject(
          'wrong-channel',
          `channel ${result.topic.channel} is not a server-to-device channel`,
          topic,
        );
      }
      return { kind: 'message', channel: result.topic.channel as ServerChannel, message: result.message };
    }
    return handleReject(result.reason, result.detail, topic);
  }

  return Object.freeze({ accept, rejected: () => ({ ...counts }) });
}
