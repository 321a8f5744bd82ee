import { maxPayloadBytesFor, parseTopic, type RejectReason } from '@edgefleet/shared';

/** Why the embedded broker refused a publish, before any subscriber saw it. */
export interface PublishRejection {
  readonly reason: Extract<RejectReason, 'bad-topic' | 'oversize' | 'forbidden'>;
  readonly detail: string;
  readonly deviceId: string | null;
}

export interface PublishLimits {
  /** Largest payload for ordinary channels, in bytes. */
  readonly maxPayloadBytes: number;
}

/**
 * Checks a publish against the topic scheme and payload limit [EF-PROTO 5]. aedes has no
 * packet size limit of its own, so the embedded broker runs this in `authorizePublish`.
 * `$SYS/` topics fall outside the scheme and are refused as aedes' default does.
 */
export function checkPublish(topic: string, payloadBytes: number, limits: PublishLimits): PublishRejection | null {
  const parsed = parseTopic(topic);
  if (!parsed)
    return {
      reason: 'bad-topic',
      detail: `topic ${JSON.stringify(topic.slice(0, 200))} is outside ef/v1/devices/{id}/{channel}`,
      deviceId: null,
    };
  // One rule for broker and decoder: only `chunks` may exceed the ordinary limit [EF-PROTO 5].
  const max = maxPayloadBytesFor(parsed.channel, limits.maxPayloadBytes);
  if (payloadBytes > max) {
    return {
      reason: 'oversize',
      detail: `payload of ${payloadBytes} bytes on ${parsed.channel} exceeds the limit of ${max}`,
      deviceId: parsed.deviceId,
    };
  }
  return null;
}
