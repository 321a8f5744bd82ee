/**
 * Top-1 confidence of live inferences, the drift signal of issue 7: when inputs move away
 * from what the model was trained on, its top-1 probability tends to fall before anyone
 * has labels to measure accuracy with.
 */
import type { FloatTensor } from '../runtime/ort.js';

/** True when a row already looks like a probability distribution (every value in [0, 1], sum ≈ 1). */
function isDistribution(data: Float32Array, start: number, width: number): boolean {
  let sum = 0;
  for (let i = 0; i < width; i += 1) {
    const v = data[start + i] ?? NaN;
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) < 1e-3;
}

/** Largest softmax probability of one row, computed stably (subtract the max first). */
function softmaxTop1(data: Float32Array, start: number, width: number): number {
  let max = -Infinity;
  for (let i = 0; i < width; i += 1) max = Math.max(max, data[start + i] ?? -Infinity);
  let denom = 0;
  for (let i = 0; i < width; i += 1) denom += Math.exp((data[start + i] ?? -Infinity) - max);
  return 1 / denom;
}

/**
 * Top-1 probability of each row of a classifier output (rows over the last axis). Logits get
 * a softmax; outputs that already are probabilities are used as they are. Rows with
 * non-finite values are skipped. Empty for outputs without a class axis.
 */
export function top1Confidences(output: FloatTensor): number[] {
  const width = output.dims[output.dims.length - 1] ?? 0;
  if (width < 2 || output.data.length % width !== 0) return [];
  const out: number[] = [];
  for (let start = 0; start < output.data.length; start += width) {
    let finite = true;
    for (let i = 0; i < width; i += 1)
      if (!Number.isFinite(output.data[start + i] ?? NaN)) {
        finite = false;
        break;
      }
    if (!finite) continue;
    if (isDistribution(output.data, start, width)) {
      let best = 0;
      for (let i = 0; i < width; i += 1) best = Math.max(best, output.data[start + i] ?? 0);
      out.push(best);
    } else {
      out.push(softmaxTop1(output.data, start, width));
    }
  }
  return out;
}
