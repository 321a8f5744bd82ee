/**
 * A bounded-memory latency histogram: fixed log-scale buckets (each 5% wider than the one
 * before), so memory is the same for ten inferences or ten million, and every percentile is
 * within ±2.5% of a true sample value. Exact count, sum, min and max ride alongside.
 */
import type { LatencySummary } from '@edgefleet/shared/device';

/** Smallest resolved latency, ms (1 µs); anything below lands in the first bucket. */
export const HISTOGRAM_MIN_MS = 0.001;
/** Largest resolved latency, ms (~17 min); anything above lands in the last bucket. */
export const HISTOGRAM_MAX_MS = 1_000_000;
/** Bucket growth factor: bucket i covers [min·g^i, min·g^(i+1)). */
export const HISTOGRAM_GROWTH = 1.05;

const LOG_GROWTH = Math.log(HISTOGRAM_GROWTH);
const BUCKETS = Math.ceil(Math.log(HISTOGRAM_MAX_MS / HISTOGRAM_MIN_MS) / LOG_GROWTH) + 1;

export interface LatencyHistogram {
  /** Adds one sample; non-finite or negative values are ignored (and counted as rejected). */
  record(ms: number): void;
  count(): number;
  /** Value at quantile q (0..1): the geometric middle of its bucket, clamped to [min, max]. Null when empty. */
  quantile(q: number): number | null;
  /** p50/p95/p99/max/mean, or null when empty. */
  summary(): LatencySummary | null;
  /** Samples refused as not a latency (NaN, negative, infinite). */
  rejected(): number;
  reset(): void;
}

function bucketOf(ms: number): number {
  if (ms <= HISTOGRAM_MIN_MS) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ms / HISTOGRAM_MIN_MS) / LOG_GROWTH));
}

/** Rounds to 3 decimals (µs): more digits would only be noise on the wire. */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function createLatencyHistogram(): LatencyHistogram {
  const counts = new Float64Array(BUCKETS);
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let refused = 0;

  function record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      refused += 1;
      return;
    }
    counts[bucketOf(ms)] = (counts[bucketOf(ms)] ?? 0) + 1;
    n += 1;
    sum += ms;
    if (ms < min) min = ms;
    if (ms > max) max = ms;
  }

  function quantile(q: number): number | null {
    if (n === 0) return null;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += counts[i] ?? 0;
      if (seen >= rank) {
        const mid = HISTOGRAM_MIN_MS * HISTOGRAM_GROWTH ** (i + 0.5);
        return Math.min(max, Math.max(min, mid));
      }
    }
    return max;
  }

  function summary(): LatencySummary | null {
    if (n === 0) return null;
    return {
      p50: round3(quantile(0.5) ?? 0),
      p95: round3(quantile(0.95) ?? 0),
      p99: round3(quantile(0.99) ?? 0),
      max: round3(max),
      mean: round3(sum / n),
    };
  }

  function reset(): void {
    counts.fill(0);
    n = 0;
    sum = 0;
    min = Infinity;
    max = -Infinity;
  }

  return { record, count: () => n, quantile, summary, rejected: () => refused, reset };
}
