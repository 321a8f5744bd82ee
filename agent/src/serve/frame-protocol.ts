/**
 * The local API's framed binary protocol, for applications that want the lowest overhead:
 * length-prefixed frames on a kept-open connection to the agent's socket (or TCP port), no
 * HTTP, no JSON, raw little-endian float32 tensors. Several requests may be in flight; each
 * answer carries its request's id.
 *
 *   request   "EFQ1" u32 length | u32 id | u8 nameLength, name (utf8; 0 = the model's first input)
 *                                | u8 rank, u32 dims[rank] | float32 data[product(dims)]
 *   response  "EFR1" u32 length | u32 id | u8 0 (ok)    | u8 nameLength, name | u8 rank, u32 dims | float32 data
 *                                         | u8 1 (error) | utf8 JSON {code, message}
 *
 * `length` counts the bytes after the 8-byte header; all integers are little-endian. The
 * response holds the model's first output (multi-output models: use the JSON API).
 */
import type { FloatTensor } from '../runtime/ort.js';

export const REQUEST_MAGIC = 'EFQ1';
export const RESPONSE_MAGIC = 'EFR1';
const HEADER_BYTES = 8;
/** Largest frame body accepted, bytes (the JSON API's body limit). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const MAX_RANK = 8;

export type InferFrame =
  | { readonly kind: 'request'; readonly id: number; readonly name?: string; readonly tensor: FloatTensor }
  | { readonly kind: 'response'; readonly id: number; readonly name?: string; readonly tensor: FloatTensor }
  | { readonly kind: 'error'; readonly id: number; readonly code: string; readonly message: string };

/** A frame that cannot be read; the connection is closed after its error frame. */
export class FrameError extends Error {}

function tensorBytes(name: string, tensor: FloatTensor): number {
  return 1 + Buffer.byteLength(name) + 1 + 4 * tensor.dims.length + 4 * tensor.data.length;
}

function writeTensor(out: Buffer, at: number, name: string, tensor: FloatTensor): void {
  let offset = at;
  const nameLength = out.write(name, offset + 1, 'utf8');
  out.writeUInt8(nameLength, offset);
  offset += 1 + nameLength;
  out.writeUInt8(tensor.dims.length, offset);
  offset += 1;
  for (const d of tensor.dims) {
    out.writeUInt32LE(d, offset);
    offset += 4;
  }
  Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).copy(out, offset);
}

/** Encodes one frame (request, response or error). */
export function encodeInferFrame(frame: InferFrame): Buffer {
  const magic = frame.kind === 'request' ? REQUEST_MAGIC : RESPONSE_MAGIC;
  if (frame.kind === 'error') {
    const text = Buffer.from(JSON.stringify({ code: frame.code, message: frame.message }), 'utf8');
    const out = Buffer.allocUnsafe(HEADER_BYTES + 5 + text.byteLength);
    out.write(magic, 0, 'latin1');
    out.writeUInt32LE(5 + text.byteLength, 4);
    out.writeUInt32LE(frame.id >>> 0, 8);
    out.writeUInt8(1, 12);
    text.copy(out, 13);
    return out;
  }
  const name = frame.name ?? '';
  if (Buffer.byteLength(name) > 255) throw new RangeError('tensor name longer than 255 bytes');
  if (frame.tensor.dims.length > MAX_RANK) throw new RangeError(`rank above ${MAX_RANK}`);
  // A response carries a status byte (0 = ok) before its tensor; a request does not.
  const statusBytes = frame.kind === 'response' ? 1 : 0;
  const body = 4 + statusBytes + tensorBytes(name, frame.tensor);
  const out = Buffer.allocUnsafe(HEADER_BYTES + body);
  out.write(magic, 0, 'latin1');
  out.writeUInt32LE(body, 4);
  out.writeUInt32LE(frame.id >>> 0, 8);
  if (statusBytes === 1) out.writeUInt8(0, 12);
  writeTensor(out, 12 + statusBytes, name, frame.tensor);
  return out;
}

function readTensor(body: Buffer, at: number): { name: string; tensor: FloatTensor } {
  let offset = at;
  const need = (n: number) => {
    if (offset + n > body.byteLength) throw new FrameError('frame ends inside its tensor header');
  };
  need(1);
  const nameLength = body.readUInt8(offset);
  need(1 + nameLength + 1);
  const name = body.toString('utf8', offset + 1, offset + 1 + nameLength);
  offset += 1 + nameLength;
  const rank = body.readUInt8(offset);
  offset += 1;
  if (rank === 0 || rank > MAX_RANK) throw new FrameError(`tensor rank ${rank}: expected 1 to ${MAX_RANK}`);
  need(4 * rank);
  const dims: number[] = [];
  for (let i = 0; i < rank; i += 1) {
    dims.push(body.readUInt32LE(offset));
    offset += 4;
  }
  const values = dims.reduce((a, b) => a * b, 1);
  const dataBytes = body.byteLength - offset;
  if (dataBytes !== 4 * values)
    throw new FrameError(`tensor of dims [${dims.join(', ')}] needs ${4 * values} data bytes, frame has ${dataBytes}`);
  // A copy: the frame's bytes may not be 4-aligned, and the copy's buffer can be transferred to the worker.
  const data = new Float32Array(values);
  new Uint8Array(data.buffer).set(body.subarray(offset));
  return { name, tensor: { dims, data } };
}

/**
 * The whole size (header included) of the frame that starts `head`, from its header alone:
 * null while fewer than its 8 header bytes are there. Throws FrameError on bad magic or size.
 */
export function frameBytes(head: Buffer, expect: 'request' | 'response', maxBytes = MAX_FRAME_BYTES): number | null {
  if (head.byteLength < HEADER_BYTES) return null;
  const magic = expect === 'request' ? REQUEST_MAGIC : RESPONSE_MAGIC;
  if (head.toString('latin1', 0, 4) !== magic) throw new FrameError(`expected a ${expect} frame (magic ${magic})`);
  const length = head.readUInt32LE(4);
  if (length > maxBytes) throw new FrameError(`frame of ${length} bytes exceeds ${maxBytes}`);
  if (length < 5) throw new FrameError(`frame of ${length} bytes is too short`);
  return HEADER_BYTES + length;
}

/**
 * Reads one frame from the start of `buffer`: null while it is incomplete, else the frame
 * and how many bytes it used. Throws FrameError on bad magic, size or layout.
 */
export function decodeInferFrame(
  buffer: Buffer,
  expect: 'request' | 'response',
  maxBytes = MAX_FRAME_BYTES,
): { readonly frame: InferFrame; readonly bytes: number } | null {
  const bytes = frameBytes(buffer, expect, maxBytes);
  if (bytes === null || buffer.byteLength < bytes) return null;
  const body = buffer.subarray(HEADER_BYTES, bytes);
  const id = body.readUInt32LE(0);
  if (expect === 'request') {
    const { name, tensor } = readTensor(body, 4);
    return { frame: { kind: 'request', id, ...(name === '' ? {} : { name }), tensor }, bytes };
  }
  const status = body.readUInt8(4);
  if (status === 1) {
    let parsed: { code?: unknown; message?: unknown } = {};
    try {
      parsed = JSON.parse(body.toString('utf8', 5)) as typeof parsed;
    } catch {
      throw new FrameError('error frame does not hold JSON');
    }
    return {
      frame: { kind: 'error', id, code: String(parsed.code ?? 'unknown'), message: String(parsed.message ?? '') },
      bytes,
    };
  }
  const { name, tensor } = readTensor(body, 5);
  return { frame: { kind: 'response', id, ...(name === '' ? {} : { name }), tensor }, bytes };
}
