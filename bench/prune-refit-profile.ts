/**
 * Where the least-squares refit of a wide dense layer spends its time: the statistics (XᵀX over
 * the calibration rows, in onnxruntime) with one products run per 16-sample batch, as the probe
 * ran before, against rows gathered to MIN_PRODUCT_ROWS per run (what it does now), interleaved;
 * then the Cholesky solve and the before/after cosine at a few fan-ins. The layer is
 * mnist-cnn-large's dense layer (fan-in 9,216, the widest any search candidate refits).
 *
 *   flock /tmp/edgefleet-heavy.lock node --import=tsx --conditions=edgefleet-source bench/prune-refit-profile.ts [ROWS]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { loadDataSource, modelInputsOf } from '@edgefleet/compress';
import { loadModel } from '@edgefleet/compress/ir/index';
import { outputCosine, solveLayer } from '@edgefleet/compress/prune/least-squares';
import { collectLayerStats, MIN_PRODUCT_ROWS, type LayerStats } from '@edgefleet/compress/prune/probe';

const rowsArg = Number(process.argv[2] ?? 256);
const model = loadModel(readFileSync(new URL('../models/zoo/mnist-cnn-large.onnx', import.meta.url)));
const dense = model.graph.nodes.find((n) => n.opType === 'Gemm');
if (!dense) throw new Error('mnist-cnn-large has no Gemm');
const data = loadDataSource(`mnist:calib:${rowsArg}`, modelInputsOf(model));
const load = loadavg()[0]?.toFixed(1);
const statsMs: Record<string, number[]> = { 'per batch (16 rows)': [], [`gathered (${MIN_PRODUCT_ROWS} rows)`]: [] };
let stats: LayerStats | undefined;
for (let round = 0; round < 2; round++)
  for (const [label, productRows] of [
    ['per batch (16 rows)', 1],
    [`gathered (${MIN_PRODUCT_ROWS} rows)`, MIN_PRODUCT_ROWS],
  ] as const) {
    const t0 = performance.now();
    stats = (
      await collectLayerStats({ current: model, reference: model, layers: [dense.name], data, productRows })
    ).get(dense.name);
    statsMs[label]?.push(performance.now() - t0);
  }
if (!stats) throw new Error('no statistics');
console.log(`statistics of ${dense.name} (k=${stats.k}, o=${stats.o}, ${stats.rows} rows), ms per run:`);
for (const [label, ms] of Object.entries(statsMs))
  console.log(`  ${label.padEnd(22)} ${ms.map((v) => v.toFixed(0)).join(', ')}`);
const solves: { fanIn: number; solveMs: number; cosineMs: number }[] = [];
for (const n of [1152, 2304, 4608]) {
  const cols = Array.from({ length: n }, (_x, i) => i * Math.floor(stats.k / n));
  const outs = Array.from({ length: stats.o }, (_x, i) => i);
  const t0 = performance.now();
  const sol = solveLayer(stats, { cols, outs });
  const t1 = performance.now();
  outputCosine(stats, sol, cols, outs);
  solves.push({ fanIn: n, solveMs: t1 - t0, cosineMs: performance.now() - t1 });
}
console.log('| fan-in | Cholesky solve ms | cosine ms |\n|---|---|---|');
for (const s of solves) console.log(`| ${s.fanIn} | ${s.solveMs.toFixed(0)} | ${s.cosineMs.toFixed(0)} |`);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/prune-refit-profile-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify({ load, rows: stats.rows, statsMs, solves }, null, 2)}\n`);
console.log(`load average ${load} → ${loadavg()[0]?.toFixed(1)}; JSON: ${file}`);
