/**
 * Ridge least squares for one linear layer from its statistics (probe.ts): W, b minimising
 * ‖X·W + b − Y‖² + λ·‖W‖² over the calibration rows, solved on the centred covariance
 * (so the intercept is exact and λ does not shrink the means) by Cholesky. Also the cosine
 * between a layer's outputs and its targets for any W, b, from the same statistics, which is
 * how reports show a layer before and after its refit without another pass over the data.
 */
import { choleskySolve, choleskyWithJitter } from './linalg.js';
import type { LayerStats } from './probe.js';

/**
 * Default ridge, as a fraction of the covariance's mean diagonal (plus columns/rows, see
 * solveLayer). 0.01 held up best on held-out data among 1e-3, 1e-2 and 5e-2 (mnist-cnn and
 * PaddleOCR cls and rec, docs/design-notes.md).
 */
export const DEFAULT_RIDGE = 0.01;

/** A solution: W is k×o row-major (rows follow the chosen X columns), b has o entries. */
export interface LinearSolution {
  readonly w: Float64Array;
  readonly b: Float64Array;
  readonly k: number;
  readonly o: number;
}

/** Options of {@link solveLayer}. */
export interface SolveOptions {
  /** X columns to use (default all). */
  readonly cols?: readonly number[];
  /** Y columns to fit (default all). */
  readonly outs?: readonly number[];
  /** λ as a fraction of the mean diagonal of the covariance. Default {@link DEFAULT_RIDGE}. */
  readonly ridge?: number;
  /** Fit an intercept b (default true); without one the fit is on raw moments and b = 0. */
  readonly intercept?: boolean;
  /**
   * Weights the ridge pulls toward instead of zero (k×o in the chosen columns and outputs),
   * normally the layer's weights as cut: where the calibration rows do not pin a direction
   * down (a squeeze-excite layer sees one row per sample), the refit keeps what the layer had.
   */
  readonly prior?: Float64Array;
}

const all = (n: number): number[] => Array.from({ length: n }, (_x, i) => i);

/** Covariance-like system [cols × cols] and right side [cols × outs] for the chosen columns. */
export function normalEquations(
  s: LayerStats,
  cols: readonly number[],
  outs: readonly number[],
  intercept: boolean,
): { a: Float64Array; c: Float64Array; mx: Float64Array; my: Float64Array } {
  const n = cols.length;
  const m = outs.length;
  const rows = Math.max(1, s.rows);
  const mx = new Float64Array(n);
  const my = new Float64Array(m);
  if (intercept) {
    for (let i = 0; i < n; i++) mx[i] = (s.xs[cols[i] as number] as number) / rows;
    for (let j = 0; j < m; j++) my[j] = (s.ys[outs[j] as number] as number) / rows;
  }
  const a = new Float64Array(n * n);
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const gi = (cols[i] as number) * s.k;
    const ci = (cols[i] as number) * s.o;
    for (let j = 0; j < n; j++)
      a[i * n + j] = (s.xtx[gi + (cols[j] as number)] as number) / rows - (mx[i] as number) * (mx[j] as number);
    for (let j = 0; j < m; j++)
      c[i * m + j] = (s.xty[ci + (outs[j] as number)] as number) / rows - (mx[i] as number) * (my[j] as number);
  }
  return { a, c, mx, my };
}

/** Adds λ = ridge · mean(diag) to the diagonal, in place; returns λ. */
export function addRidge(a: Float64Array, n: number, ridge: number): number {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i] as number;
  const lambda = (ridge * trace) / Math.max(1, n) || 1e-12;
  for (let i = 0; i < n; i++) a[i * n + i] = (a[i * n + i] as number) + lambda;
  return lambda;
}

/** Solves the ridge least-squares problem of one layer: (Σ + λI)·W = Cov(X, Y) + λ·prior. */
export function solveLayer(s: LayerStats, opts: SolveOptions = {}): LinearSolution {
  const cols = opts.cols ?? all(s.k);
  const outs = opts.outs ?? all(s.o);
  const intercept = opts.intercept ?? true;
  const { a, c, mx, my } = normalEquations(s, cols, outs, intercept);
  const n = cols.length;
  const m = outs.length;
  // Few rows per column (a squeeze-excite layer sees one row per sample) fit noise: the ridge
  // grows with columns/rows, pulling such layers toward the prior.
  const lambda = addRidge(a, n, (opts.ridge ?? DEFAULT_RIDGE) + n / Math.max(1, s.rows));
  if (opts.prior) for (let i = 0; i < c.length; i++) c[i] = (c[i] as number) + lambda * (opts.prior[i] as number);
  const { l } = choleskyWithJitter(a, n);
  const w = choleskySolve(l, n, c, m);
  const b = new Float64Array(m);
  if (intercept)
    for (let j = 0; j < m; j++) {
      let v = my[j] as number;
      for (let i = 0; i < n; i++) v -= (mx[i] as number) * (w[i * m + j] as number);
      b[j] = v;
    }
  return { w, b, k: n, o: m };
}

/** How well X·W + b matches Y: the direction (cosine) and the size of the miss (relative error). */
export interface OutputFit {
  /** Cosine over all rows and the chosen columns (1 when both are zero). Blind to scale. */
  readonly cosine: number;
  /** ‖X·W + b − Y‖² / ‖Y‖² (0 when both are zero): what least squares minimises, so it sees scale. */
  readonly relError: number;
}

/** {@link OutputFit} of `sol` from the statistics. `w` rows follow `cols`, columns follow `outs`. */
export function outputFit(
  s: LayerStats,
  sol: LinearSolution,
  cols: readonly number[],
  outs: readonly number[],
): OutputFit {
  const wgw = quadraticForms(s, sol.w, cols, outs.length);
  const m = outs.length;
  let py = 0;
  let pp = 0;
  let yy = 0;
  for (let j = 0; j < m; j++) {
    const oj = outs[j] as number;
    const bj = sol.b[j] as number;
    let wc = 0;
    let wx = 0;
    for (let i = 0; i < cols.length; i++) {
      const ci = cols[i] as number;
      const wi = sol.w[i * m + j] as number;
      wc += wi * (s.xty[ci * s.o + oj] as number);
      wx += wi * (s.xs[ci] as number);
    }
    py += wc + bj * (s.ys[oj] as number);
    pp += (wgw[j] as number) + 2 * bj * wx + s.rows * bj * bj;
    yy += s.yss[oj] as number;
  }
  if (pp <= 0 && yy <= 0) return { cosine: 1, relError: 0 };
  const cosine = py / Math.sqrt(Math.max(pp, 1e-300) * Math.max(yy, 1e-300));
  // The three sums are accumulated separately, so a near-perfect fit can come out a hair below 0.
  const relError = Math.max(0, pp - 2 * py + yy) / Math.max(yy, 1e-300);
  return { cosine, relError };
}

/**
 * wⱼᵀ·XᵀX·wⱼ for every output column j of `w` (n×m, rows following `cols`). Row by row of XᵀX with
 * all m outputs in the inner loop, so both arrays are read contiguously (column by column it took
 * ~5 s per call at n = 4,608 here).
 */
function quadraticForms(s: LayerStats, w: Float64Array, cols: readonly number[], m: number): Float64Array {
  const n = cols.length;
  const out = new Float64Array(m);
  const gw = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    gw.fill(0);
    const row = (cols[i] as number) * s.k;
    for (let q = 0; q < n; q++) {
      const g = s.xtx[row + (cols[q] as number)] as number;
      if (g === 0) continue;
      const wq = q * m;
      for (let j = 0; j < m; j++) gw[j] = (gw[j] as number) + g * (w[wq + j] as number);
    }
    const wi = i * m;
    for (let j = 0; j < m; j++) out[j] = (out[j] as number) + (w[wi + j] as number) * (gw[j] as number);
  }
  return out;
}

/** Cosine between X·W + b and Y over all rows and the chosen columns (see {@link outputFit}). */
export function outputCosine(
  s: LayerStats,
  sol: LinearSolution,
  cols: readonly number[],
  outs: readonly number[],
): number {
  return outputFit(s, sol, cols, outs).cosine;
}
