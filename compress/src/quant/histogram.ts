/**
 * A bounded-memory histogram of |x| for calibration. The range is not known in advance (a tensor's
 * magnitude is only seen batch by batch), so when a larger value arrives the bin width doubles and
 * adjacent bins merge pairwise: memory stays at `bins` counters whatever the number of samples,
 * at the cost of at most a factor-2 loss of resolution per growth step.
 */

/** Default number of bins (as TensorRT's and onnxruntime's entropy calibrators use 2048). */
export const DEFAULT_BINS = 2048;

/** Mutable |x| histogram plus exact signed min/max. */
export interface AbsHistogram {
  /** Counts per bin; bin i covers [i*width, (i+1)*width). */
  readonly counts: Float64Array;
  /** Current bin width; 0 until a non-zero value has been seen. */
  width: number;
  /** Exact signed extremes seen (Infinity/-Infinity before any value). */
  min: number;
  max: number;
  /** Number of values observed (NaN excluded). */
  total: number;
}

/** Create an empty histogram with `bins` counters. */
export function createAbsHistogram(bins = DEFAULT_BINS): AbsHistogram {
  if (!Number.isInteger(bins) || bins < 16 || bins % 2 !== 0)
    throw new RangeError(`bins must be an even integer ≥ 16, got ${bins}`);
  return { counts: new Float64Array(bins), width: 0, min: Infinity, max: -Infinity, total: 0 };
}

/** Add a batch of values. NaN values are ignored (they carry no range information). */
export function addToHistogram(h: AbsHistogram, values: ArrayLike<number>): void {
  let absMax = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (Number.isNaN(v)) continue;
    if (v < h.min) h.min = v;
    if (v > h.max) h.max = v;
    const a = Math.abs(v);
    if (a > absMax) absMax = a;
  }
  if (!Number.isFinite(absMax)) throw new RangeError('calibration data contains an infinite activation');
  const bins = h.counts.length;
  if (absMax > 0) {
    if (h.width === 0) h.width = (absMax / bins) * (1 + 1e-6);
    while (absMax >= h.width * bins) growHistogram(h);
  }
  const inv = h.width === 0 ? 0 : 1 / h.width;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    if (Number.isNaN(v)) continue;
    const bin = Math.min(bins - 1, Math.floor(Math.abs(v) * inv));
    h.counts[bin] = (h.counts[bin] ?? 0) + 1;
    h.total++;
  }
}

function growHistogram(h: AbsHistogram): void {
  const bins = h.counts.length;
  for (let i = 0; i < bins / 2; i++) h.counts[i] = (h.counts[2 * i] ?? 0) + (h.counts[2 * i + 1] ?? 0);
  h.counts.fill(0, bins / 2);
  h.width *= 2;
}

/** The |x| value below which `percentile` % of the observed mass lies (upper bin edge). */
export function histogramPercentile(h: AbsHistogram, percentile: number): number {
  if (!(percentile > 0 && percentile <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${percentile}`);
  if (h.total === 0 || h.width === 0) return 0;
  const target = (h.total * percentile) / 100;
  let cum = 0;
  for (let i = 0; i < h.counts.length; i++) {
    cum += h.counts[i] ?? 0;
    if (cum >= target) return (i + 1) * h.width;
  }
  return h.counts.length * h.width;
}
