/**
 * The binary chunk frame [EF-PROTO 6.4]. A chunk carries up to 128 KiB of artifact bytes;
 * as base64 inside JSON it was a third larger and cost a JSON.stringify and a JSON.parse of
 * a ~171 KiB string at each end. The frame keeps the bytes raw:
 *
 *   offset 0   4 bytes   magic `EFC1` (0x45 0x46 0x43 0x31)
 *   offset 4   u32 BE    header length H (1..MAX_CHUNK_FRAME_HEADER_BYTES)
 *   offset 8   H bytes   UTF-8 JSON header: every `chunk` field except `data`
 *   offset 8+H rest      the chunk's bytes (exactly `size` of them)
 *
 * JSON messages always start with `{`, never with the magic, so one channel can carry both
 * (`chunk-nack` stays JSON). This module only cuts frames; decode.ts validates what it cuts
 * with the same registry and schema as every other message.
 */
import { CHUNK_FRAME_PREFIX_BYTES, MAX_CHUNK_FRAME_HEADER_BYTES, MAX_JSON_DEPTH } from '../limits.js';
import { asError } from '../errors.js';
import { jsonNestingDepth } from './json-guard.js';

/** First four bytes of every chunk frame. */
export const CHUNK_FRAME_MAGIC: readonly number[] = Object.freeze([0x45, 0x46, 0x43, 0x31]);

/** A frame split into its header (parsed JSON, not yet validated) and its data bytes. */
export type SplitFrame =
  | { readonly ok: true; readonly header: unknown; readonly data: Uint8Array }
  /** `malformed-json`: the frame cannot be cut; `too-deep`: its header nests too far; `schema`: it carries `data`. */
  | { readonly ok: false; readonly reason: 'malformed-json' | 'too-deep' | 'schema'; readonly detail: string };

/** True when `payload` starts with the frame magic (it is a frame, well-formed or not). */
export function isChunkFrame(payload: Uint8Array): boolean {
  if (payload.byteLength < CHUNK_FRAME_MAGIC.length) return false;
  for (let i = 0; i < CHUNK_FRAME_MAGIC.length; i += 1) if (payload[i] !== CHUNK_FRAME_MAGIC[i]) return false;
  return true;
}

/**
 * Builds a frame from a header object and the data bytes. The header must not contain
 * `data`; a header over the limit is a programmer error (ids are bounded by their schemas).
 */
export function encodeChunkFrame(header: Readonly<Record<string, unknown>>, data: Uint8Array): Buffer {
  if (Object.hasOwn(header, 'data')) throw new TypeError('a chunk frame header must not contain data');
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.byteLength > MAX_CHUNK_FRAME_HEADER_BYTES)
    throw new RangeError(`chunk frame header of ${json.byteLength} bytes exceeds ${MAX_CHUNK_FRAME_HEADER_BYTES}`);
  const frame = Buffer.allocUnsafe(CHUNK_FRAME_PREFIX_BYTES + json.byteLength + data.byteLength);
  frame.set(CHUNK_FRAME_MAGIC, 0);
  frame.writeUInt32BE(json.byteLength, 4);
  json.copy(frame, CHUNK_FRAME_PREFIX_BYTES);
  frame.set(data, CHUNK_FRAME_PREFIX_BYTES + json.byteLength);
  return frame;
}

/**
 * Cuts a payload that starts with the magic into header and data. Never throws: a short
 * prefix, a header length outside 1..limit or beyond the payload, or a header that is not a
 * JSON object comes back as `{ok: false}` with a reject reason and the problem in words.
 * `data` is a view into `payload`, not a copy.
 */
export function splitChunkFrame(payload: Uint8Array): SplitFrame {
  if (payload.byteLength < CHUNK_FRAME_PREFIX_BYTES) {
    return {
      ok: false,
      reason: 'malformed-json',
      detail: `chunk frame of ${payload.byteLength} bytes is shorter than its ${CHUNK_FRAME_PREFIX_BYTES}-byte prefix`,
    };
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const headerBytes = view.getUint32(4, false);
  if (headerBytes === 0 || headerBytes > MAX_CHUNK_FRAME_HEADER_BYTES) {
    return {
      ok: false,
      reason: 'malformed-json',
      detail: `chunk frame header length ${headerBytes} is outside 1..${MAX_CHUNK_FRAME_HEADER_BYTES}`,
    };
  }
  const dataStart = CHUNK_FRAME_PREFIX_BYTES + headerBytes;
  if (dataStart > payload.byteLength) {
    return {
      ok: false,
      reason: 'malformed-json',
      detail: `chunk frame header length ${headerBytes} runs past the end of a ${payload.byteLength}-byte payload`,
    };
  }
  const headerView = payload.subarray(CHUNK_FRAME_PREFIX_BYTES, dataStart);
  if (jsonNestingDepth(headerView, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    return { ok: false, reason: 'too-deep', detail: `chunk frame header nests more than ${MAX_JSON_DEPTH} levels` };
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(headerView.buffer, headerView.byteOffset, headerView.byteLength).toString('utf8'));
  } catch (err: unknown) {
    return { ok: false, reason: 'malformed-json', detail: `chunk frame header is not JSON: ${asError(err).message}` };
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return { ok: false, reason: 'malformed-json', detail: 'chunk frame header is not a JSON object' };
  if (Object.hasOwn(header, 'data'))
    return { ok: false, reason: 'schema', detail: 'chunk frame header carries data; the bytes follow the header' };
  return { ok: true, header, data: payload.subarray(dataStart) };
}
