/**
 * Shared by the PaddleOCR compression tests: run a single-input model (input `x`) once on a dataset
 * and return its first output, and the cosine between two outputs.
 */
import { openSession } from '@edgefleet/compress/calibration/session';
import type { Dataset } from '@edgefleet/compress/data/tensor';

export async function firstOutput(bytes: Uint8Array, data: Dataset): Promise<Float32Array> {
  const s = await openSession(bytes);
  try {
    const x = data.inputs.x;
    if (!x) throw new Error('no input x in the dataset');
    const out = await s.run({ x: { dtype: 'float32', dims: x.dims, data: x.data } });
    const first = Object.values(out)[0];
    if (!first) throw new Error('the model produced no output');
    return first.data;
  } finally {
    await s.release();
  }
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] ?? 0) * (b[i] ?? 0);
    x += (a[i] ?? 0) ** 2;
    y += (b[i] ?? 0) ** 2;
  }
  return d / Math.sqrt(x * y);
}
