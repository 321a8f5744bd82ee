/**
 * The golden-set smoke test [EF-PROTO 6.5]: decode the manifest's inputs, and score a model's
 * outputs against the expected top-1 labels. Pure functions; the swap runs the model.
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

export interface GoldenScore {
  readonly accuracy: number;
  readonly correct: number;
  readonly rows: number;
  /** False when any value of any output is NaN or infinite. */
  readonly finite: boolean;
}

/** Index of the largest value in `data[start, start+len)`. */
function argmax(data: Float32Array, start: number, len: number): number {
  let best = 0;
  for (let i = 1; i < len; i += 1) if ((data[start + i] ?? -Infinity) > (data[start + best] ?? -Infinity)) best = i;
  return best;
}

/** Scores outputs against the golden labels (argmax over the scored output's last axis, per row). */
export function scoreGolden(
  golden: GoldenSet,
  outputs: Readonly<Record<string, FloatTensor>>,
  outputNames: readonly string[],
): GoldenScore {
  const finite = Object.values(outputs).every((t) => t.data.every(Number.isFinite));
  const name = golden.output ?? outputNames[0];
  const scored = name === undefined ? undefined : outputs[name];
  if (!scored)
    throw new RangeError(
      `golden set scores output ${name ?? '(none)'}, which the model does not produce (it has ` +
        `${outputNames.join(', ')})`,
    );
  const rows = golden.labels.length;
  const width = scored.dims[scored.dims.length - 1] ?? 0;
  if (width === 0 || scored.data.length !== rows * width)
    throw new RangeError(`output ${name} has dims [${scored.dims.join(', ')}], not ${rows} rows`);
  let correct = 0;
  golden.labels.forEach((label, row) => {
    if (argmax(scored.data, row * width, width) === label) correct += 1;
  });
  return { accuracy: correct / rows, correct, rows, finite };
}
