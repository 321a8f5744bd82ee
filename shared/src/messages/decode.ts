import * as z from 'zod';
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_JSON_DEPTH, maxPayloadBytesFor } from '../limits.js';
import { parseTopic, type ParsedTopic } from '../topics.js';
import { encodeChunkFrame, isChunkFrame, splitChunkFrame } from './chunk-frame.js';
import { describeValue, jsonNestingDepth } from './json-guard.js';
import { MESSAGE_SCHEMAS, type AnyMessage, type MessageType } from './registry.js';
import { asError } from '../errors.js';

/**
 * Why an inbound message was rejected; also the label of the rejection counter. `forbidden`:
 * the embedded broker refused a publish outside the client's own topics [EF-PROTO 7.3].
 * `too-deep`: JSON nested deeper than {@link MAX_JSON_DEPTH}, refused before parsing.
 * `store-refused`: a valid message the server's store refused for good (a constraint it
 * breaks); it alone was rolled back, the rest of its batch was stored [EF-PROTO 8.5].
 * `class-mismatch`: a `hello` announcing a class other than the one its credential was
 * issued for [EF-PROTO 7.2]; the registry keeps the credential's class.
 */
export const REJECT_REASONS = [
  'bad-topic',
  'oversize',
  'malformed-json',
  'too-deep',
  'unknown-type',
  'wrong-channel',
  'schema',
  'device-mismatch',
  'forbidden',
  'store-refused',
  'class-mismatch',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type DecodeResult =
  | { readonly ok: true; readonly topic: ParsedTopic; readonly message: AnyMessage }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string; readonly deviceId: string | null };

export interface DecodeOptions {
  /**
   * Largest payload accepted, in bytes. Default {@link DEFAULT_MAX_PAYLOAD_BYTES}; `chunks` may always carry a full
   * chunk (maxPayloadBytesFor).
   */
  readonly maxPayloadBytes?: number;
}

function reject(reason: RejectReason, detail: string, deviceId: string | null = null): DecodeResult & { ok: false } {
  return { ok: false, reason, detail, deviceId };
}

/** The JSON value a payload carries: a JSON document, or a chunk frame's header with its bytes as `data`. */
function payloadValue(
  payload: Uint8Array,
  deviceId: string,
): { ok: true; value: unknown } | (DecodeResult & { ok: false }) {
  if (isChunkFrame(payload)) {
    const frame = splitChunkFrame(payload);
    if (!frame.ok) return { ok: false, reason: frame.reason, detail: frame.detail, deviceId };
    // The bytes join the header as `data`, so the frame meets the same schema as a JSON message would.
    return { ok: true, value: { ...(frame.header as Record<string, unknown>), data: frame.data } };
  }
  // Measured on the bytes, before parsing: what runs on a parsed value may recurse [EF-PROTO 1].
  const depth = jsonNestingDepth(payload, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH)
    return {
      ok: false,
      reason: 'too-deep',
      detail: `JSON nested more than ${MAX_JSON_DEPTH} levels deep; no edgefleet message nests that far`,
      deviceId,
    };
  try {
    return {
      ok: true,
      value: JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')),
    };
  } catch (err: unknown) {
    const lead =
      payload.byteLength > 0 && payload[0] !== 0x7b
        ? ` (starts with 0x${(payload[0] ?? 0).toString(16).padStart(2, '0')}: neither a JSON object nor a chunk frame)`
        : '';
    return {
      ok: false,
      reason: 'malformed-json',
      detail: `payload is not JSON${lead}: ${asError(err).message}`,
      deviceId,
    };
  }
}

/**
 * Parses one inbound MQTT message at the edge: topic scheme, size, nesting depth, JSON or
 * chunk frame, `type`, channel and schema, and that the payload's `deviceId` matches the
 * topic. Never throws, whatever the bytes [EF-PROTO 1, 6.4]: size and depth are checked
 * before anything is parsed, and a failure no check foresaw still comes back as a rejection.
 */
export function decodeMessage(topic: string, payload: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  try {
    return decodeChecked(topic, payload, options);
  } catch (err: unknown) {
    // A bug, not an input problem: the message is still refused rather than thrown at the caller.
    const detail = err instanceof Error ? err.message : String(err);
    return reject(
      'malformed-json',
      `decoder failed on this payload: ${detail.slice(0, 200)}`,
      parseTopic(topic)?.deviceId ?? null,
    );
  }
}

function decodeChecked(topic: string, payload: Uint8Array, options: DecodeOptions): DecodeResult {
  const parsed = parseTopic(topic);
  if (!parsed)
    return reject('bad-topic', `topic ${JSON.stringify(topic.slice(0, 200))} is outside ef/v1/devices/{id}/{channel}`);
  const deviceId = parsed.deviceId;
  const max = maxPayloadBytesFor(parsed.channel, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  if (payload.byteLength > max)
    return reject('oversize', `payload of ${payload.byteLength} bytes exceeds the limit of ${max}`, deviceId);
  const value = payloadValue(payload, deviceId);
  if (!value.ok) return value;
  const json = value.value;
  const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(MESSAGE_SCHEMAS, type)) {
    return reject('unknown-type', `unknown message type ${describeValue(type)}`, deviceId);
  }
  const entry = MESSAGE_SCHEMAS[type as MessageType];
  if (entry.channel !== parsed.channel) {
    return reject('wrong-channel', `a ${type} message does not belong on channel ${parsed.channel}`, deviceId);
  }
  const result = entry.schema.safeParse(json);
  if (!result.success) return reject('schema', z.prettifyError(result.error), deviceId);
  const message = result.data as AnyMessage;
  if ('deviceId' in message && message.deviceId !== deviceId) {
    return reject(
      'device-mismatch',
      `payload says device ${message.deviceId} but the topic says ${deviceId}`,
      deviceId,
    );
  }
  return { ok: true, topic: parsed, message };
}

/**
 * Serialises a message for publishing (the inverse of {@link decodeMessage}): a `chunk` as a
 * binary frame, everything else as JSON.
 */
export function encodeMessage(message: AnyMessage): Buffer {
  if (message.type === 'chunk') {
    const { data, ...header } = message;
    return encodeChunkFrame(header, data);
  }
  return Buffer.from(JSON.stringify(message), 'utf8');
}
