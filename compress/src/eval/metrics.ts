/**
 * Pure quality and timing statistics over model outputs: plain arrays in, plain numbers out.
 * Outputs are read as N samples of `width` values each (row-major, sample first).
 */

/** Index of the largest of `width` values starting at `offset` (first one wins ties). */
export function argmaxAt(values: ArrayLike<number>, offset: number, width: number): number {
  let best = 0;
  let bestValue = values[offset] as number;
  for (let k = 1; k < width; k++) {
    const v = values[offset + k] as number;
    if (v > bestValue) {
      bestValue = v;
      best = k;
    }
  }
  return best;
}

/** Top-1 predictions of N samples. */
export function top1Of(values: ArrayLike<number>, count: number): Int32Array {
  const width = count === 0 ? 0 : values.length / count;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = argmaxAt(values, i * width, width);
  return out;
}

/** Top-1 accuracy: `correct` of `count`. */
export interface Accuracy {
  top1: number;
  correct: number;
  count: number;
}

/** Top-1 accuracy of outputs against integer labels. */
export function accuracyOf(values: ArrayLike<number>, labels: ArrayLike<number>): Accuracy {
  const preds = top1Of(values, labels.length);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (preds[i] === labels[i]) correct++;
  return { top1: labels.length === 0 ? 0 : correct / labels.length, correct, count: labels.length };
}

/** Agreement of a model with a reference model on the same samples. */
export interface Fidelity {
  /** Fraction of samples where both models pick the same top-1 class. */
  top1Agreement: number;
  /** Mean over samples of the cosine similarity of the two output vectors. */
  meanCosine: number;
  /** Smallest per-sample cosine similarity. */
  minCosine: number;
  /** Largest |model − reference| over every output value. */
  maxAbsError: number;
  count: number;
}

/** Cosine similarity of two vectors; two zero vectors count as identical (1). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, offset: number, width: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let k = offset; k < offset + width; k++) {
    const x = a[k] as number;
    const y = b[k] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Fidelity of `values` to `reference` (same length, N samples). */
export function fidelityOf(values: ArrayLike<number>, reference: ArrayLike<number>, count: number): Fidelity {
  if (values.length !== reference.length)
    throw new RangeError(`outputs differ in size: ${values.length} vs reference ${reference.length}`);
  const width = count === 0 ? 0 : values.length / count;
  let agree = 0;
  let cosSum = 0;
  let minCos = 1;
  let maxAbs = 0;
  for (let i = 0; i < count; i++) {
    const off = i * width;
    if (argmaxAt(values, off, width) === argmaxAt(reference, off, width)) agree++;
    const c = cosine(values, reference, off, width);
    cosSum += c;
    minCos = Math.min(minCos, c);
  }
  for (let k = 0; k < values.length; k++)
    maxAbs = Math.max(maxAbs, Math.abs((values[k] as number) - (reference[k] as number)));
  return {
    top1Agreement: count === 0 ? 0 : agree / count,
    meanCosine: count === 0 ? 0 : cosSum / count,
    minCosine: minCos,
    maxAbsError: maxAbs,
    count,
  };
}

/** The q-th percentile (0..100) by nearest rank of unsorted samples. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}
