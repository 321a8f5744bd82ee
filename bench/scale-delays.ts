/** The servers' store-delay histograms (`TelemetryIngest.storeDelays`): summed, differenced, read as quantiles. */
export interface Delays {
  readonly boundsMs: readonly number[];
  readonly cumulative: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

/** Σ `plus` − Σ `minus` (all with the same bounds): a later reading minus an earlier one gives the interval. */
export function sumDelays(plus: readonly Delays[], minus: readonly Delays[] = []): Delays {
  const boundsMs = plus[0]?.boundsMs ?? [];
  const add = (sign: number, ds: readonly Delays[], acc: { cumulative: number[]; count: number; sumMs: number }) => {
    for (const d of ds) {
      d.cumulative.forEach((c, i) => {
        acc.cumulative[i] = (acc.cumulative[i] ?? 0) + sign * c;
      });
      acc.count += sign * d.count;
      acc.sumMs += sign * d.sumMs;
    }
    return acc;
  };
  const acc = add(-1, minus, add(1, plus, { cumulative: boundsMs.map(() => 0), count: 0, sumMs: 0 }));
  return { boundsMs, ...acc };
}

/**
 * The q-quantile in ms, interpolated linearly inside its bucket (as Prometheus's
 * histogram_quantile does); a string `>N` when it lies past the last bound, null with no data.
 */
export function quantileMs(d: Delays, q: number): number | string | null {
  if (d.count === 0) return null;
  const rank = q * d.count;
  for (let i = 0; i < d.boundsMs.length; i += 1) {
    const cum = d.cumulative[i] ?? 0;
    if (cum >= rank) {
      const lower = i === 0 ? 0 : (d.boundsMs[i - 1] ?? 0);
      const below = i === 0 ? 0 : (d.cumulative[i - 1] ?? 0);
      const inBucket = cum - below;
      const upper = d.boundsMs[i] ?? lower;
      return Math.round(lower + (inBucket === 0 ? 0 : ((rank - below) / inBucket) * (upper - lower)));
    }
  }
  return `>${d.boundsMs[d.boundsMs.length - 1]}`;
}
