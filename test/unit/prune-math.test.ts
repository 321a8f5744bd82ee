/**
 * The numerics behind reconstruction and channel choice, on small problems with known answers:
 * Cholesky solves and inverses, ridge least squares with an intercept and a prior, the
 * greedy removal's downdate against a fresh solve, the closed-form output cosine, and the
 * ratio allocation under a target.
 */
import t from 'tap';
import { cholesky, choleskySolve, inverseFromCholesky } from '@edgefleet/compress/prune/linalg';
import { outputCosine, solveLayer } from '@edgefleet/compress/prune/least-squares';
import type { LayerStats } from '@edgefleet/compress/prune/probe';
import { allocateRatios, removalCount, type SensitivityRow } from '@edgefleet/compress/prune/sensitivity';
import { isEdgefleetError } from '@edgefleet/shared';
import { seededFloats } from '../fixtures/deploy-models.js';

/** A random SPD matrix XᵀX + I of order n. */
function spd(n: number, seed: number): Float64Array {
  const x = seededFloats(n * (n + 3), seed);
  const a = new Float64Array(n * n);
  for (let r = 0; r < n + 3; r++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++)
        a[i * n + j] = (a[i * n + j] as number) + (x[r * n + i] as number) * (x[r * n + j] as number);
  for (let i = 0; i < n; i++) a[i * n + i] = (a[i * n + i] as number) + 1;
  return a;
}

t.test('Cholesky: solves and inverts an SPD matrix; refuses an indefinite one', async (t) => {
  const n = 7;
  const a = spd(n, 3);
  const l = cholesky(a, n);
  if (!l) throw new Error('not SPD');
  const b = Float64Array.from(seededFloats(n * 2, 4));
  const x = choleskySolve(l, n, b, 2);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[i * n + k] as number) * (x[k * 2 + c] as number);
      t.ok(Math.abs(s - (b[i * 2 + c] as number)) < 1e-9, `A·x = b at (${i}, ${c})`);
    }
  const h = inverseFromCholesky(l, n);
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[i * n + k] as number) * (h[k * n + j] as number);
      worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
    }
  t.ok(worst < 1e-9, `A·A⁻¹ = I (worst ${worst.toExponential(1)})`);
  t.equal(cholesky(Float64Array.from([1, 2, 2, 1]), 2), undefined, 'indefinite: no factor');
});

/** Statistics of rows X (m×k) and Y = X·W + b, as the probe would accumulate them. */
function statsOf(x: Float32Array, m: number, k: number, w: number[][], b: number[]): LayerStats {
  const o = b.length;
  const s: LayerStats = {
    node: 'L',
    k,
    o,
    rows: m,
    xtx: new Float64Array(k * k),
    xty: new Float64Array(k * o),
    xs: new Float64Array(k),
    ys: new Float64Array(o),
    yss: new Float64Array(o),
  };
  for (let r = 0; r < m; r++) {
    const y = b.map((bj, j) => bj + w.reduce((acc, row, i) => acc + (row[j] as number) * (x[r * k + i] as number), 0));
    for (let i = 0; i < k; i++) {
      const xi = x[r * k + i] as number;
      s.xs[i] = (s.xs[i] as number) + xi;
      for (let q = 0; q < k; q++) s.xtx[i * k + q] = (s.xtx[i * k + q] as number) + xi * (x[r * k + q] as number);
      for (let j = 0; j < o; j++) s.xty[i * o + j] = (s.xty[i * o + j] as number) + xi * (y[j] as number);
    }
    y.forEach((v, j) => {
      s.ys[j] = (s.ys[j] as number) + v;
      s.yss[j] = (s.yss[j] as number) + v * v;
    });
  }
  return s;
}

t.test('least squares recovers a linear layer with its bias, and the cosine from statistics matches', async (t) => {
  const m = 2000;
  const k = 5;
  const x = seededFloats(m * k, 11);
  const w = [
    [1, -2],
    [0.5, 0],
    [0, 3],
    [-1, 1],
    [2, 0.25],
  ];
  const s = statsOf(x, m, k, w, [0.3, -0.7]);
  const sol = solveLayer(s, { ridge: 1e-9 });
  t.ok(Math.abs((sol.w[0] as number) - 1) < 1e-2 && Math.abs((sol.w[9] as number) - 0.25) < 1e-2, 'weights recovered');
  t.ok(Math.abs((sol.b[1] as number) + 0.7) < 1e-2, `bias recovered (${sol.b[1]})`);
  const all = [0, 1, 2, 3, 4];
  t.ok(outputCosine(s, sol, all, [0, 1]) > 0.9999, 'the refit reproduces Y');
  // Dropping column 4 (a big contributor) without a refit loses much; the refit on the rest recovers what it can.
  const cut = solveLayer(s, { cols: [0, 1, 2, 3], ridge: 1e-9 });
  const dropped = { w: sol.w.slice(0, 8), b: sol.b, k: 4, o: 2 };
  t.ok(outputCosine(s, cut, [0, 1, 2, 3], [0, 1]) >= outputCosine(s, dropped, [0, 1, 2, 3], [0, 1]), 'refit ≥ cut');
});

t.test('a strong ridge pulls the solution to the prior, not to zero', async (t) => {
  const m = 50;
  const k = 3;
  const s = statsOf(seededFloats(m * k, 5), m, k, [[1], [1], [1]], [0]);
  const prior = Float64Array.from([4, 4, 4]);
  const toPrior = solveLayer(s, { ridge: 1e6, prior });
  const toZero = solveLayer(s, { ridge: 1e6 });
  t.ok(Math.abs((toPrior.w[0] as number) - 4) < 1e-3, `pulled to the prior (${toPrior.w[0]})`);
  t.ok(Math.abs(toZero.w[0] as number) < 1e-3, `without one, to zero (${toZero.w[0]})`);
});

t.test('removal counts keep at least one channel per block and split evenly', async (t) => {
  t.equal(removalCount(8, 1, 0.25), 2);
  t.equal(removalCount(8, 2, 0.25), 2, 'one from each of 2 blocks');
  t.equal(removalCount(2, 1, 0.25), 0, 'a quarter of 2 rounds down to nothing');
  t.equal(removalCount(4, 1, 0.99), 3, 'never the last one');
  t.equal(removalCount(6, 3, 0.5), 3);
});

t.test('with a channel multiple, every group keeps a multiple of it (or all it has)', async (t) => {
  t.equal(removalCount(200, 1, 0.25, 4), 48, '200 → 152 (150 rounded to a multiple of 4)');
  t.equal(removalCount(200, 1, 0.25, 16), 56, '200 → 144 (150 to the nearest multiple of 16)');
  t.equal(removalCount(22, 1, 0.25, 4), 6, '22 → 16 (17 rounded)');
  t.equal(removalCount(8, 1, 0.75, 4), 4, 'never below one multiple');
  t.equal(removalCount(6, 1, 0.125, 4), 0, 'rounding back up to all channels removes none');
  t.equal(removalCount(4, 1, 0.5, 4), 0, 'a group of one multiple stays whole');
  t.equal(
    removalCount(48, 2, 0.25, 8),
    8,
    '2 blocks of 24 keep 20 each (18 rounded to 4s): 40 in all, a multiple of 8',
  );
  t.equal(removalCount(48, 2, 0.25, 1), 12, 'multiple 1: the plain count');
  for (const c of [9, 22, 50, 104, 150, 200])
    for (const r of [0.125, 0.25, 0.5, 0.75]) {
      const kept = c - removalCount(c, 1, r, 4);
      t.ok(kept === c || kept % 4 === 0, `${c} at ${r} keeps ${kept}`);
    }
});

const row = (id: number, channels: number, drops: number[]): SensitivityRow => ({
  group: `g${id}`,
  id,
  channels,
  measure: 'output',
  points: drops.map((drop, i) => ({
    ratio: (i + 1) / (drops.length + 1),
    kept: channels - Math.floor(((i + 1) / (drops.length + 1)) * channels),
    drop,
    cosine: 1 - drop,
    agreement: 1,
  })),
});

t.test('allocation spends the target on the cheapest groups, and says when no configuration reaches it', async (t) => {
  // Two groups of equal size; cost = channels kept (params ∝ channels). g1 is sensitive, g2 is not.
  const rows = [row(1, 8, [0.1, 0.3, 0.6]), row(2, 8, [0.001, 0.002, 0.004])];
  const cost = (kept: ReadonlyMap<number, number>) => {
    const c = 8 * (kept.get(1) ?? 1) + 8 * (kept.get(2) ?? 1);
    return { params: c, macs: c, channels: c };
  };
  const base = { params: 16, macs: 16, channels: 16 };
  const ratios = allocateRatios(rows, cost, base, { params: 0.7 });
  t.equal(ratios.get(1), 0, 'the sensitive group is left alone');
  t.ok((ratios.get(2) ?? 0) >= 0.5, `the insensitive one pays (${ratios.get(2)})`);
  const err = (() => {
    try {
      allocateRatios(rows, cost, base, { params: 0.1 });
    } catch (e: unknown) {
      return e;
    }
  })();
  t.ok(isEdgefleetError(err, 'EF_ERR_PRUNE_TARGET'), 'unreachable target: EF_ERR_PRUNE_TARGET');
  t.match((err as Error).message, /keeps 25\.0% of the parameters/, (err as Error).message);
});
