/**
 * Non-negative least squares for the cost model: find x ≥ 0 minimising Σ wᵢ (aᵢ·x − yᵢ)², with
 * wᵢ = 1 / yᵢ² so every microbenchmark counts by its relative error (a 7 µs graph as much as a
 * 20 ms one). Costs cannot be negative, and an unconstrained fit happily trades a negative MAC
 * cost against a large per-unit cost to explain a few points. Solved by cyclic coordinate descent
 * on the normal equations with columns scaled to unit diagonal: a few dozen features, so
 * thousands of sweeps take milliseconds. Pure.
 */
export interface NnlsResult {
  readonly x: number[];
  /** Columns with any non-zero entry (the others are 0 by construction). */
  readonly used: boolean[];
  readonly sweeps: number;
}

/** Solve the relative-error NNLS for rows `a` and targets `y` (all y > 0). */
export function relativeNnls(a: readonly (readonly number[])[], y: readonly number[], maxSweeps = 20000): NnlsResult {
  const p = a[0]?.length ?? 0;
  const g = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const h = new Array<number>(p).fill(0);
  a.forEach((row, i) => {
    const yi = y[i] as number;
    if (!(yi > 0)) throw new RangeError(`target ${i} must be positive, got ${yi}`);
    const w = 1 / (yi * yi);
    for (let j = 0; j < p; j++) {
      const rj = row[j] as number;
      if (rj === 0) continue;
      h[j] = (h[j] as number) + w * rj * yi;
      const gj = g[j] as number[];
      for (let k = 0; k < p; k++) gj[k] = (gj[k] as number) + w * rj * (row[k] as number);
    }
  });
  const used = g.map((row, j) => (row[j] as number) > 0);
  // Scale columns to unit diagonal so one step size suits MACs and unit counts alike.
  const s = g.map((row, j) => (used[j] ? 1 / Math.sqrt(row[j] as number) : 0));
  const x = new Array<number>(p).fill(0);
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    let change = 0;
    for (let j = 0; j < p; j++) {
      if (!used[j]) continue;
      const gj = g[j] as number[];
      let grad = -(h[j] as number) * (s[j] as number);
      for (let k = 0; k < p; k++) grad += (gj[k] as number) * (s[j] as number) * (s[k] as number) * (x[k] as number);
      const next = Math.max(0, (x[j] as number) - grad);
      change = Math.max(change, Math.abs(next - (x[j] as number)));
      x[j] = next;
    }
    if (change < 1e-12) break;
  }
  return { x: x.map((v, j) => v * (s[j] as number)), used, sweeps };
}

/** Mean absolute percentage error of predictions against measurements, in percent. */
export function mape(predicted: readonly number[], measured: readonly number[]): number {
  if (predicted.length === 0) return 0;
  let sum = 0;
  predicted.forEach((p, i) => {
    const m = measured[i] as number;
    sum += Math.abs(p - m) / m;
  });
  return (100 * sum) / predicted.length;
}
