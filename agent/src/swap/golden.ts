/**
 * The golden-set smoke test [EF-PROTO 6.5]: decode the manifest's inputs, and score a model's
 * outputs against the expected top-1 labels (shared's scoring). Pure functions; the swap runs the model.
 */
import type { GoldenSet } from '@edgefleet/shared/device';
import type { FloatTensor } from '../runtime/ort.js';

/** Base64 little-endian float32 → Float32Array (copied, so alignment never matters). */
export function decodeFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % 4 !== 0)
    throw new RangeError(`float32 data of ${bytes.byteLength} bytes is not a multiple of 4`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Float32Array → base64 little-endian float32 (what the server puts into golden sets). */
export function encodeFloat32(data: Float32Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

/** The golden inputs as model feeds; throws RangeError when data and dims disagree or rows ≠ labels. */
export function goldenFeeds(golden: GoldenSet): Record<string, FloatTensor> {
  const feeds: Record<string, FloatTensor> = {};
  for (const [name, tensor] of Object.entries(golden.inputs)) {
    const data = decodeFloat32(tensor.data);
    const expected = tensor.dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected)
      throw new RangeError(`golden input ${name}: ${data.length} values for dims [${tensor.dims.join(', ')}]`);
    if (tensor.dims[0] !== golden.labels.length)
      throw new RangeError(`golden input ${name}: batch ${tensor.dims[0]} but ${golden.labels.length} labels`);
    feeds[name] = { dims: tensor.dims, data };
  }
  return feeds;
}

/**
 * Scores outputs against the golden labels (argmax over the scored output's last axis, per row).
 * One implementation, in shared: the server runs the same scoring on its host before a rollout.
 */
export { scoreGoldenOutputs as scoreGolden, type GoldenScore } from '@edgefleet/shared/device';
