/**
 * Chunk math for artifact delivery [EF-PROTO 6.3], shared so the server that cuts an
 * artifact and the agent that reassembles it agree on every boundary and digest.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { MAX_CHUNK_BYTES, MAX_MANIFEST_CHUNKS, MIN_CHUNK_BYTES } from './limits.js';

/** sha256 of bytes as 64 lowercase hex digits. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Number of chunks of an artifact of `size` bytes cut at `chunkSize` (an empty artifact has none). */
export function chunkCountOf(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Byte range `[start, end)` of chunk `index`; throws RangeError outside the artifact. */
export function chunkRange(
  index: number,
  chunkSize: number,
  size: number,
): { readonly start: number; readonly end: number } {
  const count = chunkCountOf(size, chunkSize);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError(`chunk ${index} outside 0..${count - 1}`);
  const start = index * chunkSize;
  return { start, end: Math.min(size, start + chunkSize) };
}

/** How artifact bytes may travel [EF-PROTO 6.3]: gzip (RFC 1952). Node 20's zlib has no zstd. */
export type ArtifactEncoding = 'gzip';

/**
 * How an artifact is cut: what the signed manifest's `artifact` block carries. `sha256` and
 * `size` are always those of the model file itself; with an `encoding`, the chunks cut the
 * encoded bytes (`encodedSize` of them) and the agent decodes while it verifies.
 */
export interface ArtifactLayout {
  readonly sha256: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** sha256 of each chunk (of the bytes that travel), by index. */
  readonly chunks: readonly string[];
  readonly encoding?: ArtifactEncoding;
  readonly encodedSize?: number;
}

/** Bytes that travel for a layout: the encoded size when it has an encoding, else the model's. */
export function transferSizeOf(layout: { readonly size: number; readonly encodedSize?: number | undefined }): number {
  return layout.encodedSize ?? layout.size;
}

/** The model bytes gzip-encoded (level 9; deterministic for one zlib version). */
export function gzipArtifact(bytes: Uint8Array): Uint8Array {
  return gzipSync(bytes, { level: 9 });
}

/**
 * Whether an encoding is worth it: it must save at least an eighth of the bytes. Trained fp32
 * weights gzip by ~7% (not worth a decode on the device); int8 and sparse models by 20% and more.
 */
export function encodingPays(size: number, encodedSize: number): boolean {
  return encodedSize <= size * (7 / 8);
}

/**
 * Cuts `bytes` into chunks of `chunkSize` (default 128 KiB) and hashes the whole and each chunk.
 * With `encoded` (the same model gzip-encoded), the chunks cut the encoded bytes.
 */
export function describeArtifact(
  bytes: Uint8Array,
  chunkSize: number = MAX_CHUNK_BYTES,
  encoded?: { readonly encoding: ArtifactEncoding; readonly bytes: Uint8Array },
): ArtifactLayout {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunk size ${chunkSize} outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`);
  }
  const wire = encoded?.bytes ?? bytes;
  const chunkCount = chunkCountOf(wire.byteLength, chunkSize);
  if (chunkCount > MAX_MANIFEST_CHUNKS)
    throw new RangeError(`${chunkCount} chunks exceed ${MAX_MANIFEST_CHUNKS}; use a larger chunk size`);
  const chunks: string[] = [];
  for (let i = 0; i < chunkCount; i += 1) {
    const { start, end } = chunkRange(i, chunkSize, wire.byteLength);
    chunks.push(sha256Hex(wire.subarray(start, end)));
  }
  return Object.freeze({
    sha256: sha256Hex(bytes),
    size: bytes.byteLength,
    chunkSize,
    chunkCount,
    chunks: Object.freeze(chunks),
    ...(encoded ? { encoding: encoded.encoding, encodedSize: encoded.bytes.byteLength } : {}),
  });
}

/**
 * Encodes which chunks of a window are wanted: bit i (LSB-first within each byte) set means
 * chunk `offset + i` is requested. Returned as base64.
 */
export function encodeWindowBitmap(offset: number, indices: Iterable<number>, count: number): string {
  const bytes = new Uint8Array(Math.ceil(count / 8));
  for (const index of indices) {
    const bit = index - offset;
    if (bit < 0 || bit >= count) throw new RangeError(`chunk ${index} outside window ${offset}+${count}`);
    bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (1 << (bit & 7));
  }
  return Buffer.from(bytes).toString('base64');
}

/**
 * The chunk indices a `chunk-req` asks for: `offset .. offset+count-1`, filtered by the
 * bitmap when one is given. Bits beyond `count` are ignored.
 */
export function requestedIndices(request: {
  readonly offset: number;
  readonly count: number;
  readonly bitmap?: string | undefined;
}): number[] {
  const out: number[] = [];
  const bits = request.bitmap === undefined ? null : Buffer.from(request.bitmap, 'base64');
  for (let i = 0; i < request.count; i += 1) {
    if (bits === null || (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1) out.push(request.offset + i);
  }
  return out;
}
