/**
 * Activation range calibrators. Each observes a tensor batch by batch and then proposes the float
 * range [min, max] to quantize it over:
 * - `minmax`: the exact observed extremes (no clipping; sensitive to outliers);
 * - `percentile`: clip |x| at a percentile of its histogram (default 99.99);
 * - `entropy`: the clipping threshold minimising KL(P‖Q) between the |x| histogram and its
 *   quantized version, the method TensorRT introduced and onnxruntime's `CalibrationMethod.Entropy`
 *   follows. Written from the published description, not ported.
 * Histograms have a fixed number of bins, so memory is bounded by tensors × bins.
 */
import { addToHistogram, createAbsHistogram, histogramPercentile, type AbsHistogram } from './histogram.js';

/** Calibration method names accepted by recipes and the CLI. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** A float range proposed for one tensor. */
export interface CalibRange {
  readonly min: number;
  readonly max: number;
}

/** Collects one tensor's statistics. */
export interface Calibrator {
  readonly method: CalibrationMethod;
  observe(values: ArrayLike<number>): void;
  /** The range to quantize over; throws if nothing was observed. */
  range(): CalibRange;
}

/** Options for {@link createCalibrator}. */
export interface CalibratorOptions {
  /** Percentile for `percentile`; default 99.99. */
  readonly percentile?: number;
  /** Histogram bins for `percentile` and `entropy`; default 2048. */
  readonly bins?: number;
  /**
   * Quantized levels on the |x| axis for `entropy`: 128 for int8
   * symmetric (default), 256 for a non-negative uint8 tensor.
   */
  readonly levels?: number;
}

/** Create a calibrator for one tensor. */
export function createCalibrator(method: CalibrationMethod, opts: CalibratorOptions = {}): Calibrator {
  if (method === 'minmax') return createMinMaxCalibrator();
  const h = createAbsHistogram(opts.bins);
  const threshold =
    method === 'percentile'
      ? () => histogramPercentile(h, opts.percentile ?? 99.99)
      : () => entropyThreshold(h, opts.levels ?? (h.min >= 0 ? 256 : 128));
  return {
    method,
    observe: (values) => addToHistogram(h, values),
    range: () => clipRange(h, threshold()),
  };
}

/** Several methods' ranges from one pass: one |x| histogram (which also keeps the exact extremes) serves them all. */
export interface MultiCalibrator {
  observe(values: ArrayLike<number>): void;
  ranges(): Map<CalibrationMethod, CalibRange>;
}

/** Create a calibrator that proposes a range for each of `methods` from the same observations. */
export function createMultiCalibrator(
  methods: readonly CalibrationMethod[],
  opts: CalibratorOptions = {},
): MultiCalibrator {
  const h = createAbsHistogram(opts.bins);
  return {
    observe: (values) => addToHistogram(h, values),
    ranges() {
      if (h.total === 0) throw new RangeError('calibrator observed no values');
      const out = new Map<CalibrationMethod, CalibRange>();
      for (const m of methods) {
        if (m === 'minmax') out.set(m, { min: h.min, max: h.max });
        else if (m === 'percentile') out.set(m, clipRange(h, histogramPercentile(h, opts.percentile ?? 99.99)));
        else out.set(m, clipRange(h, entropyThreshold(h, opts.levels ?? (h.min >= 0 ? 256 : 128))));
      }
      return out;
    },
  };
}

function createMinMaxCalibrator(): Calibrator {
  let min = Infinity;
  let max = -Infinity;
  return {
    method: 'minmax',
    observe(values) {
      for (let i = 0; i < values.length; i++) {
        const v = values[i] ?? 0;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    },
    range() {
      if (min > max) throw new RangeError('minmax calibrator observed no values');
      return { min, max };
    },
  };
}

function clipRange(h: AbsHistogram, t: number): CalibRange {
  if (h.total === 0) throw new RangeError('calibrator observed no values');
  return { min: Math.max(h.min, -t), max: Math.min(h.max, t) };
}

/**
 * KL-divergence threshold search over the |x| histogram. For each candidate cut i (from `levels`
 * bins up to all bins): P = counts[0..i) with the clipped tail folded into the last bin; Q = P
 * merged into `levels` groups and spread back uniformly over each group's non-empty bins; keep the
 * i minimising KL(P‖Q), searched coarse to fine. Returns the upper edge of the chosen cut.
 */
export function entropyThreshold(h: AbsHistogram, levels: number): number {
  const bins = h.counts.length;
  if (h.total === 0 || h.width === 0) return 0;
  if (levels >= bins) return bins * h.width;
  let lastNonZero = 0;
  for (let i = 0; i < bins; i++) if ((h.counts[i] ?? 0) > 0) lastNonZero = i;
  const end = Math.max(levels, lastNonZero + 1);
  // tailFrom[i] = counts folded into the last kept bin when cutting at i.
  const tailFrom = new Float64Array(bins + 1);
  for (let i = bins - 1; i >= 0; i--) tailFrom[i] = (tailFrom[i + 1] ?? 0) + (h.counts[i] ?? 0);
  const p = new Float64Array(bins);
  const q = new Float64Array(bins);
  const klAt = (cut: number): number => klForCut(h.counts, cut, levels, tailFrom[cut] ?? 0, p, q);
  // Coarse to fine: every STRIDE-th cut, then every cut around the best coarse one. Each KL costs
  // O(cut), so the exhaustive walk was O(bins²) per tensor (~8 s for PaddleOCR cls' 90 tensors).
  const STRIDE = 16;
  let best = end;
  let bestKl = Infinity;
  const consider = (cut: number): void => {
    const kl = klAt(cut);
    if (kl < bestKl || (kl === bestKl && cut < best)) {
      bestKl = kl;
      best = cut;
    }
  };
  for (let cut = end; cut >= levels; cut -= STRIDE) consider(cut);
  consider(levels);
  const coarse = best;
  for (let cut = Math.min(end, coarse + STRIDE - 1); cut >= Math.max(levels, coarse - STRIDE + 1); cut--) consider(cut);
  return best * h.width;
}

function klForCut(
  counts: Float64Array,
  cut: number,
  levels: number,
  tail: number,
  p: Float64Array,
  q: Float64Array,
): number {
  for (let i = 0; i < cut; i++) p[i] = counts[i] ?? 0;
  p[cut - 1] = (p[cut - 1] ?? 0) + tail;
  const perGroup = cut / levels;
  for (let g = 0; g < levels; g++) {
    const lo = Math.floor(g * perGroup);
    const hi = g === levels - 1 ? cut : Math.floor((g + 1) * perGroup);
    let sum = 0;
    let nonZero = 0;
    for (let i = lo; i < hi; i++) {
      // Use the unfolded counts inside the group so Q models what quantization keeps.
      const v = counts[i] ?? 0;
      sum += v;
      if (v > 0) nonZero++;
    }
    const each = nonZero === 0 ? 0 : sum / nonZero;
    for (let i = lo; i < hi; i++) q[i] = (counts[i] ?? 0) > 0 ? each : 0;
  }
  return klDivergence(p, q, cut);
}

function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < n; i++) {
    ps += p[i] ?? 0;
    qs += q[i] ?? 0;
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const pi = (p[i] ?? 0) / ps;
    if (pi === 0) continue;
    // A bin P has and Q lacks (the folded tail bin when Q's group was empty) gets a small floor.
    const qi = Math.max((q[i] ?? 0) / qs, 1e-12);
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}
