/**
 * `npm run bench:corpus`: every model of the third-party corpus (models/corpus/manifest.json,
 * fetched by `npm run corpus`) through `inspect`, `convert` (outputs must be bit-exact) and every
 * quantization preset, in one run: size ratio, output fidelity to fp32 on held-out inputs (worst
 * cosine and worst relative error ‖y − ŷ‖/‖y‖ over the float outputs), host latency ratio to fp32
 * (one thread, interleaved runs, medians, one run batch), and for a refusal the error with the op
 * or feature it names. Prints a table and a markdown summary, writes bench/results/corpus.json.
 * BENCH_CORPUS=id,id limits the models, BENCH_RECIPES=a,b the recipes, BENCH_RUNS the timed runs.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { PRESETS, compressModel, loadModel, inspectModel, writeModel } from '@edgefleet/compress';
import { openSession, type CompressSession } from '@edgefleet/compress/calibration/session';
import { batchFeeds, runBatchSize, type Dataset } from '@edgefleet/compress/data/tensor';
import { fetchCorpus } from '../scripts/corpus/fetch.js';
import { corpusDataset } from '../scripts/corpus/inputs.js';
import { readManifest } from '../scripts/corpus/manifest.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const only = process.env.BENCH_CORPUS?.split(',');
const recipes = process.env.BENCH_RECIPES?.split(',') ?? Object.keys(PRESETS);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

type Outputs = Map<string, Float32Array[]>;

/** Every float output of every run over the dataset, run by run. */
async function outputsOf(s: CompressSession, ds: Dataset): Promise<Outputs> {
  const out: Outputs = new Map();
  const bs = runBatchSize(ds, s.inputs, 8);
  for (let start = 0; start < ds.count; start += bs) {
    const r = await s.run(batchFeeds(ds, start, Math.min(ds.count, start + bs)));
    for (const [name, t] of Object.entries(r)) out.set(name, [...(out.get(name) ?? []), t.data.slice()]);
  }
  return out;
}

function bitExact(a: Outputs, b: Outputs): boolean {
  if (a.size !== b.size) return false;
  for (const [name, runs] of a) {
    const other = b.get(name);
    if (!other || other.length !== runs.length) return false;
    for (const [i, x] of runs.entries())
      if (!Buffer.from(x.buffer).equals(Buffer.from(other[i]?.buffer ?? new ArrayBuffer(0)))) return false;
  }
  return true;
}

/**
 * Worst cosine and worst relative error over the outputs. Non-finite values (a log-mel of silence
 * is −inf) are compared for equality and left out of the sums; one that differs makes the error infinite.
 */
function fidelity(ref: Outputs, got: Outputs): { cosine: number; relErr: number } {
  let cosine = 1;
  let relErr = 0;
  for (const [name, runs] of ref) {
    const s = { dot: 0, aa: 0, bb: 0, diff: 0, bad: 0 };
    for (const [i, x] of runs.entries()) {
      const y = got.get(name)?.[i];
      if (!y || y.length !== x.length) return { cosine: Number.NaN, relErr: Number.NaN };
      accumulate(s, x, y);
    }
    if (s.aa === 0 && s.bb === 0 && s.bad === 0) continue;
    cosine = Math.min(cosine, s.dot / Math.sqrt(s.aa * s.bb || 1));
    relErr = Math.max(relErr, s.bad > 0 || s.aa === 0 ? Number.POSITIVE_INFINITY : Math.sqrt(s.diff / s.aa));
  }
  return { cosine, relErr };
}

function accumulate(
  s: { dot: number; aa: number; bb: number; diff: number; bad: number },
  x: Float32Array,
  y: Float32Array,
): void {
  for (let k = 0; k < x.length; k++) {
    const u = x[k] ?? 0;
    const v = y[k] ?? 0;
    if (!Number.isFinite(u) || !Number.isFinite(v)) {
      if (!Object.is(u, v)) s.bad++;
      continue;
    }
    s.dot += u * v;
    s.aa += u * u;
    s.bb += v * v;
    s.diff += (u - v) ** 2;
  }
}

async function latencyRatio(
  a: CompressSession,
  b: CompressSession,
  ds: Dataset,
): Promise<{ fp32Ms: number; ms: number }> {
  const feed = batchFeeds(ds, 0, Math.min(ds.count, runBatchSize(ds, a.inputs, 1)));
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < RUNS + 10; i++) {
    let t0 = performance.now();
    await a.run(feed);
    if (i >= 10) ta.push(performance.now() - t0);
    t0 = performance.now();
    await b.run(feed);
    if (i >= 10) tb.push(performance.now() - t0);
  }
  return { fp32Ms: median(ta), ms: median(tb) };
}

type Row = Record<string, string | number | boolean>;

async function benchRecipe(
  id: string,
  bytes: Uint8Array,
  recipe: string,
  calib: Dataset,
  test: Dataset,
  base: CompressSession,
  ref: Outputs,
): Promise<Row> {
  try {
    const { bytes: out, report } = await compressModel(bytes, recipe, { calib });
    const q = await openSession(out);
    try {
      const f = fidelity(ref, await outputsOf(q, test));
      const t = await latencyRatio(base, q, test);
      const main = report.passes[report.passes.length - 1];
      return {
        model: id,
        recipe,
        sizeRatio: +report.size.ratio.toFixed(3),
        cosine: +f.cosine.toFixed(5),
        relErr: +f.relErr.toFixed(4),
        latencyRatio: +(t.ms / t.fp32Ms).toFixed(2),
        fp32Ms: +t.fp32Ms.toFixed(3),
        floatLayers: report.layers.filter((l) => l.precision === 'fp32').length,
        note: main?.summary.slice(0, 140) ?? '',
      };
    } finally {
      await q.release();
    }
  } catch (err: unknown) {
    const code = (err as { code?: string }).code ?? 'Error';
    return { model: id, recipe, refused: `${code}: ${err instanceof Error ? err.message.slice(0, 220) : String(err)}` };
  }
}

const manifest = readManifest();
const fetched = await fetchCorpus(manifest, { onProgress: (l) => process.stderr.write(`${l}\n`) });
const files = new Map(fetched.map((f) => [f.entry.id, f.file]));
const rows: Row[] = [];
const models: Row[] = [];
for (const { entry, file } of fetched.filter((f) => !only || only.includes(f.entry.id))) {
  process.stderr.write(`${entry.id} …\n`);
  const bytes = new Uint8Array(readFileSync(file));
  const report = inspectModel(loadModel(bytes));
  const calib = await corpusDataset(entry, files, 'calib');
  const test = await corpusDataset(entry, files, 'test');
  const base = await openSession(bytes);
  const ref = await outputsOf(base, test);
  const converted = await openSession(writeModel(loadModel(bytes)));
  const exact = bitExact(ref, await outputsOf(converted, test));
  await converted.release();
  models.push({
    model: entry.id,
    task: entry.task,
    exporter: entry.exporter,
    nodes: report.nodeCount,
    subgraphs: report.subgraphCount,
    bytes: bytes.byteLength,
    convertBitExact: exact,
  });
  for (const recipe of recipes) rows.push(await benchRecipe(entry.id, bytes, recipe, calib, test, base, ref));
  await base.release();
}
console.table(models);
console.table(rows.map(({ note: _n, ...r }) => r));
const cell = (r: Row | undefined): string =>
  !r ? '' : r.refused ? 'refused' : `${r.sizeRatio} / ${r.latencyRatio}× / ${r.relErr}`;
const lines = [`| model | convert | ${recipes.join(' | ')} |`, `|---|---|${recipes.map(() => '---').join('|')}|`];
for (const m of models)
  lines.push(
    `| ${m.model} | ${m.convertBitExact ? 'bit-exact' : 'DIFFERS'} | ` +
      `${recipes.map((r) => cell(rows.find((x) => x.model === m.model && x.recipe === r))).join(' | ')} |`,
  );
console.log(
  `\nsize ratio / latency ratio (compressed ÷ fp32 time at one thread; < 1 is faster) / worst relative error ‖y − ` +
    `ŷ‖/‖y‖ of the outputs on held-out inputs:\n${lines.join('\n')}`,
);
for (const r of rows.filter((x) => x.refused)) console.log(`- ${r.model} ${r.recipe}: ${r.refused}`);
if (!only) {
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('results/corpus.json', import.meta.url),
    `${JSON.stringify({ when: new Date().toISOString(), threads: 1, runs: RUNS, models, rows }, null, 2)}\n`,
  );
}
