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

/** Columns per block of {@link cholesky} (of 64, 128 and 256, 256 was fastest at n = 4,608 here). */
const CHOLESKY_BLOCK = 256;

/**
 * Lower-triangular Cholesky factor L (A = L·Lᵀ) of the SPD matrix `a` (n×n, row-major; only
 * its lower triangle is read). Returns undefined when `a` is not positive definite.
 *
 * Blocked, right-looking: factor a block of columns on the diagonal, solve the panel below it, then
 * subtract the panel's outer product from the trailing matrix, reading the panel from a packed
 * copy. The unblocked form reads every earlier row of L for each row, which streams the whole
 * factor through memory n times: at n = 4,608 (mnist-cnn-large's dense refit) that took ~40 s
 * here, memory-bound; blocked, each block's update reuses a panel that fits in cache.
 */
export function cholesky(a: Float64Array, n: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) l.set(a.subarray(i * n, i * n + i + 1), i * n);
  for (let kb = 0; kb < n; kb += CHOLESKY_BLOCK) {
    const ke = Math.min(n, kb + CHOLESKY_BLOCK);
    if (!factorBlockColumn(l, n, kb, ke)) return undefined;
    updateTrailing(l, n, kb, ke);
  }
  return l;
}

/** Factors the diagonal block [kb, ke) and solves the rows below it in columns [kb, ke). */
function factorBlockColumn(l: Float64Array, n: number, kb: number, ke: number): boolean {
  for (let i = kb; i < n; i++) {
    const ri = i * n;
    const last = Math.min(i, ke - 1);
    for (let j = kb; j <= last; j++) {
      const rj = j * n;
      let s = l[ri + j] as number;
      for (let k = kb; k < j; k++) s -= (l[ri + k] as number) * (l[rj + k] as number);
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return false;
        l[ri + i] = Math.sqrt(s);
      } else l[ri + j] = s / (l[rj + j] as number);
    }
  }
  return true;
}

/** Subtracts the outer product of the panel (rows ≥ ke, columns [kb, ke)) from the trailing lower triangle. */
function updateTrailing(l: Float64Array, n: number, kb: number, ke: number): void {
  const w = ke - kb;
  const rows = n - ke;
  if (rows <= 0) return;
  const p = new Float64Array(rows * w);
  for (let r = 0; r < rows; r++) p.set(l.subarray((ke + r) * n + kb, (ke + r) * n + ke), r * w);
  let r = 0;
  // Two rows by four columns at a time: six loads feed eight products.
  for (; r + 1 < rows; r += 2) {
    const pa = r * w;
    const pb = pa + w;
    const la = (ke + r) * n + ke;
    const lb = la + n;
    let c = 0;
    for (; c + 3 <= r; c += 4) {
      const p0 = c * w;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let k = 0; k < w; k++) {
        const x = p[pa + k] as number;
        const y = p[pb + k] as number;
        const q0 = p[p0 + k] as number;
        const q1 = p[p0 + w + k] as number;
        const q2 = p[p0 + 2 * w + k] as number;
        const q3 = p[p0 + 3 * w + k] as number;
        a0 += x * q0;
        a1 += x * q1;
        a2 += x * q2;
        a3 += x * q3;
        b0 += y * q0;
        b1 += y * q1;
        b2 += y * q2;
        b3 += y * q3;
      }
      l[la + c] = (l[la + c] as number) - a0;
      l[la + c + 1] = (l[la + c + 1] as number) - a1;
      l[la + c + 2] = (l[la + c + 2] as number) - a2;
      l[la + c + 3] = (l[la + c + 3] as number) - a3;
      l[lb + c] = (l[lb + c] as number) - b0;
      l[lb + c + 1] = (l[lb + c + 1] as number) - b1;
      l[lb + c + 2] = (l[lb + c + 2] as number) - b2;
      l[lb + c + 3] = (l[lb + c + 3] as number) - b3;
    }
    for (; c <= r; c++) {
      l[la + c] = (l[la + c] as number) - dot(p, pa, c * w, w);
      l[lb + c] = (l[lb + c] as number) - dot(p, pb, c * w, w);
    }
    l[lb + r + 1] = (l[lb + r + 1] as number) - dot(p, pb, pb, w);
  }
  for (; r < rows; r++) {
    const la = (ke + r) * n + ke;
    for (let c = 0; c <= r; c++) l[la + c] = (l[la + c] as number) - dot(p, r * w, c * w, w);
  }
}

function dot(p: Float64Array, a: number, b: number, w: number): number {
  let s = 0;
  for (let k = 0; k < w; k++) s += (p[a + k] as number) * (p[b + k] as number);
  return s;
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
