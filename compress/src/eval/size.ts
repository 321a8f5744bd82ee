import { gzipSync } from 'node:zlib';

/** Bytes of a model on disk and gzip-compressed (level 9), the cost of shipping it. */
export interface ModelSize {
  bytes: number;
  gzipBytes: number;
}

/** Size and gzip size of model bytes. */
export function sizeOf(bytes: Uint8Array): ModelSize {
  return { bytes: bytes.byteLength, gzipBytes: gzipSync(bytes, { level: 9 }).byteLength };
}
