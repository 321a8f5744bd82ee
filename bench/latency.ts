/**
 * `npm run bench:latency`: how well the search's latency predictor predicts host latency of
 * networks it never saw. Loads the microbenchmark table (cached in .edgefleet/latency-table.json;
 * `--remeasure` measures it again), builds seeded held-out candidates of the kind the search
 * proposes (1–3 conv stages of random widths, pooling or strided downsampling, 0–2 hidden dense
 * layers; fp32, fp16, int8-static or int8 with the first conv kept in float), times them in
 * onnxruntime at one thread, batch 1 and 32, interleaved in rounds (medians), and prints measured
 * vs predicted with the MAPE and the rank correlation. Writes bench/results/latency.json.
 * Run it under the shared lock: `flock /tmp/edgefleet-heavy.lock npm run bench:latency`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadModel, writeModel, type Model } from '@edgefleet/compress/ir/index';
import { compressModel } from '@edgefleet/compress/compress-model';
import { PRESETS } from '@edgefleet/compress/recipes';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import {
  buildNet,
  createLatencyPredictor,
  describeNet,
  randomNet,
  loadOrMeasureLatencyTable,
  mape,
  randomBatch,
  timeInterleaved,
  type NetSpec,
  type TimedGraph,
} from '@edgefleet/compress/search/latency/index';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`usage: npm run bench:latency [-- --remeasure] [--candidates N] [--seed S]

Predicted vs measured host latency of seeded held-out candidate networks (batch 1 and 32,
1 thread, interleaved medians). Writes bench/results/latency.json.`);
  process.exit(0);
}
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const COUNT = flag('--candidates', 24);
const SEED = flag('--seed', 2026);
const ROOT = new URL('../', import.meta.url);
const CACHE = new URL('.edgefleet/latency-table.json', ROOT).pathname;
const BATCHES = [1, 32];
type Flavour = 'fp32' | 'fp16' | 'int8' | 'int8-mixed';
const FLAVOURS: Flavour[] = ['fp32', 'fp16', 'int8', 'int8-mixed'];

/** A held-out candidate (seed family SEED; the microbenchmarks fit on family 1). */
function candidate(i: number): { spec: NetSpec; flavour: Flavour } {
  return { spec: { ...randomNet(SEED, i), name: `cand${i}` }, flavour: FLAVOURS[i % FLAVOURS.length] as Flavour };
}

async function inFlavour(spec: NetSpec, flavour: Flavour): Promise<Model> {
  const model = buildNet(spec, 1);
  if (flavour === 'fp32') return model;
  const calib = {
    source: 'random',
    count: 16,
    inputs: { input: { dtype: 'float32' as const, dims: [16, ...spec.input], data: randomBatch(spec.input, 16) } },
  };
  const steps = flavour === 'fp16' ? PRESETS.fp16?.steps : PRESETS['int8-static']?.steps;
  const recipe = { steps, ...(flavour === 'int8-mixed' ? { exclude: { nodes: ['l0.conv'], opTypes: [] } } : {}) };
  return loadModel((await compressModel(writeModel(model), recipe, { calib })).bytes);
}

if (args.includes('--remeasure')) rmSync(CACHE, { force: true });
const { table, from, reason } = await loadOrMeasureLatencyTable(CACHE, {
  onProgress: (p) => process.stderr.write(`\r  microbench: ${p.what} ${p.done}/${p.total}        `),
});
process.stderr.write('\n');
console.log(
  `latency table: ${from}${reason ? ` (${reason})` : ''}; ${table.samples.length} microbenchmarks, fit MAPE ` +
    `${table.fitMape.toFixed(1)}%, call ${(table.callMs * 1000).toFixed(1)} µs`,
);
const predictor = createLatencyPredictor(table);
const rows: { name: string; flavour: Flavour; batch: number; predicted: number; graph: TimedGraph; desc: string }[] =
  [];
for (let i = 0; i < COUNT; i++) {
  const { spec, flavour } = candidate(i);
  const model = await inFlavour(spec, flavour);
  const bytes = writeModel(model);
  const desc = describeNet(spec);
  for (const batch of BATCHES) {
    const session = await createOrtSession(bytes);
    const feeds = {
      input: { dtype: 'float32' as const, dims: [batch, 1, 28, 28], data: randomBatch(spec.input, batch) },
    };
    rows.push({
      name: spec.name,
      flavour,
      batch,
      predicted: predictor.host(model, batch).ms,
      graph: { session, feeds, times: [] },
      desc,
    });
  }
  process.stderr.write(`\r  built ${i + 1}/${COUNT}`);
}
process.stderr.write('\n');
const measured = await timeInterleaved(
  rows.map((r) => r.graph),
  { rounds: 7, runsPerRound: 10, onRound: (r) => process.stderr.write(`\r  timing round ${r}/7`) },
);
process.stderr.write('\n');
for (const r of rows) await r.graph.session.release();

function spearman(a: number[], b: number[]): number {
  const rank = (xs: number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(xs.length);
    order.forEach(([, i], k) => {
      r[i] = k;
    });
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  const d2 = ra.reduce((s, x, i) => s + (x - (rb[i] as number)) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

console.log(
  `\n${'candidate'.padEnd(9)} ${'layers'.padEnd(26)} ${'flavour'.padEnd(10)} batch  measured ms  predicted ms  error`,
);
rows.forEach((r, i) => {
  const m = measured[i] as number;
  console.log(
    `${r.name.padEnd(9)} ${r.desc.padEnd(26)} ${r.flavour.padEnd(10)} ${String(r.batch).padStart(5)}  ` +
      `${m.toFixed(4).padStart(11)}  ${r.predicted.toFixed(4).padStart(12)}  ` +
      `${(((r.predicted - m) / m) * 100).toFixed(0).padStart(4)}%`,
  );
});
const summary: Record<string, { mape: number; spearman: number; n: number }> = {};
const group = (label: string, keep: (r: (typeof rows)[number]) => boolean): void => {
  const idx = rows.map((r, i) => (keep(r) ? i : -1)).filter((i) => i >= 0);
  const p = idx.map((i) => (rows[i] as (typeof rows)[number]).predicted);
  const m = idx.map((i) => measured[i] as number);
  summary[label] = { mape: mape(p, m), spearman: spearman(p, m), n: idx.length };
};
for (const b of BATCHES) group(`batch ${b}`, (r) => r.batch === b);
for (const f of FLAVOURS) group(f, (r) => r.flavour === f);
group('all', () => true);
console.log(`\n${'held-out group'.padEnd(16)}  n   MAPE   Spearman ρ`);
for (const [k, v] of Object.entries(summary))
  console.log(
    `${k.padEnd(16)} ${String(v.n).padStart(2)}  ${v.mape.toFixed(1).padStart(5)}%  ${v.spearman.toFixed(3)}`,
  );
mkdirSync(new URL('bench/results/', ROOT), { recursive: true });
const resultRows = rows.map((r, i) => ({
  name: r.name,
  layers: r.desc,
  flavour: r.flavour,
  batch: r.batch,
  measuredMs: measured[i],
  predictedMs: r.predicted,
}));
const result = { host: table.host, tableFrom: from, fitMape: table.fitMape, summary, rows: resultRows };
writeFileSync(new URL('bench/results/latency.json', ROOT), `${JSON.stringify(result, null, 1)}\n`);
console.log('\nwrote bench/results/latency.json');
