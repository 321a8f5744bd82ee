/**
 * The dense linear algebra pruning needs, in Float64 and row-major: Cholesky factorisation of a
 * symmetric positive definite matrix, solves with many right-hand sides, and the inverse. Our
 * own short solver instead of a dependency: measured on this project's machines, ml-matrix's
 * Cholesky took 0.87 s for n=785 with 64 right-hand sides, and its products were far too slow
 * for XᵀX (those run in onnxruntime instead, see probe.ts). Inner loops here walk contiguous
 * rows so V8 keeps them tight.
 */

/** A square or rectangular row-major matrix. */
export interface Mat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** A zero matrix. */
export function zeros(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/**
 * Lower-triangular Cholesky factor L (A = L·Lᵀ) of the SPD matrix `a` (n×n, row-major; only
 * its lower triangle is read). Returns undefined when `a` is not positive definite.
 */
export function cholesky(a: Float64Array, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j] as number;
      for (let k = 0; k < j; k++) s -= (l[ri + k] as number) * (l[rj + k] as number);
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return undefined;
        l[ri + i] = Math.sqrt(s);
      } else l[ri + j] = s / (l[rj + j] as number);
    }
  }
  return l;
}

/** Solves L·Lᵀ·X = B for X (B is n×m, row-major; returns a new n×m array). */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  const y = Float64Array.from(b);
  // Forward: L·Y = B.
  for (let i = 0; i < n; i++) {
    const yi = i * m;
    for (let k = 0; k < i; k++) {
      const lik = l[i * n + k] as number;
      if (lik === 0) continue;
      const yk = k * m;
      for (let c = 0; c < m; c++) y[yi + c] = (y[yi + c] as number) - lik * (y[yk + c] as number);
    }
    const d = l[i * n + i] as number;
    for (let c = 0; c < m; c++) y[yi + c] = (y[yi + c] as number) / d;
  }
  // Backward: Lᵀ·X = Y.
  for (let i = n - 1; i >= 0; i--) {
    const xi = i * m;
    for (let k = i + 1; k < n; k++) {
      const lki = l[k * n + i] as number;
      if (lki === 0) continue;
      const xk = k * m;
      for (let c = 0; c < m; c++) y[xi + c] = (y[xi + c] as number) - lki * (y[xk + c] as number);
    }
    const d = l[i * n + i] as number;
    for (let c = 0; c < m; c++) y[xi + c] = (y[xi + c] as number) / d;
  }
  return y;
}

/**
 * Factorises `a`, adding `jitter`·mean(diag) to the diagonal (and ten times more, up to six
 * times) until it is positive definite. Returns the factor and the jitter that worked.
 */
export function choleskyWithJitter(
  a: Float64Array,
  n: number,
  jitter = 1e-9,
): { readonly l: Float64Array; readonly added: number } {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += a[i * n + i] as number;
  meanDiag = Math.max(meanDiag / Math.max(1, n), 1e-30);
  let l = cholesky(a, n);
  if (l) return { l, added: 0 };
  let eps = jitter * meanDiag;
  for (let attempt = 0; attempt < 12; attempt++) {
    const b = Float64Array.from(a);
    for (let i = 0; i < n; i++) b[i * n + i] = (b[i * n + i] as number) + eps;
    l = cholesky(b, n);
    if (l) return { l, added: eps };
    eps *= 10;
  }
  throw new RangeError(`matrix of order ${n} is not positive definite even with ${eps.toExponential(1)} added`);
}

/** Inverse of the SPD matrix `a` (n×n), from its Cholesky factor: A⁻¹ = L⁻ᵀ·L⁻¹. */
export function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  // Rows of L⁻¹ (lower triangular), by forward substitution on the identity.
  // Row i of L⁻¹ is −(1/Lᵢᵢ)·Σₖ Lᵢₖ·(row k of L⁻¹) over k < i, plus 1/Lᵢᵢ on the diagonal: row
  // operations keep the inner loop on contiguous memory.
  const li = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k] as number;
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) li[ri + j] = (li[ri + j] as number) + lik * (li[rk + j] as number);
    }
    const d = l[ri + i] as number;
    for (let j = 0; j < i; j++) li[ri + j] = -(li[ri + j] as number) / d;
    li[ri + i] = 1 / d;
  }
  // H = (L⁻¹)ᵀ·L⁻¹: H[i][j] = Σ_{k ≥ max(i,j)} Li[k][i]·Li[k][j]; accumulate row by row of L⁻¹.
  const h = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const v = li[rk + i] as number;
      if (v === 0) continue;
      const hi = i * n;
      for (let j = 0; j <= i; j++) h[hi + j] = (h[hi + j] as number) + v * (li[rk + j] as number);
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) h[j * n + i] = h[i * n + j] as number;
  return h;
}

/** Inverse of a small SPD block (s×s), or undefined when it is singular. */
export function smallInverse(a: Float64Array, s: number): Float64Array | undefined {
  const l = cholesky(a, s);
  return l ? inverseFromCholesky(l, s) : undefined;
}
