/**
 * The quality bar on the committed mnist-cnn teacher, no training at all: structured
 * pruning with least-squares reconstruction to at most a quarter of the parameters loses at most
 * 1.0 point of top-1 on the 2,000-image test split; int8-static on top makes the file at least
 * 10× smaller at at most 1.2 points. Calibration is the separate 1,000-image calib split
 * (the test split's standard error is ~0.34 points). Then the same chain through the CLI.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { compressModel, compressReportSchema } from '@edgefleet/compress/compress-model';
import { evaluateModel, modelInputsOf } from '@edgefleet/compress/eval/index';
import { loadModel } from '@edgefleet/compress/ir/index';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { runCli } from '../helpers/run-cli.js';

t.setTimeout(300_000);
const path = fileURLToPath(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url));
const bytes = readFileSync(path);
const inputs = modelInputsOf(loadModel(bytes));
const calib = loadDataSource('mnist:calib', inputs);

async function top1(file: string): Promise<number> {
  const r = await evaluateModel(file, { latency: false });
  if (!r.accuracy) throw new Error(`no accuracy for ${file}`);
  return r.accuracy.top1;
}

t.test(
  'mnist-cnn: ≤ 1/4 of the parameters at ≤ 1.0 point, and ≥ 10× smaller with int8-static at ≤ 1.2 points',
  async (t) => {
    const dir = t.testdir();
    const recipe = [
      { pass: 'prune-structured', target: { params: 0.25 }, importance: 'reconstruction' },
      { pass: 'reconstruct' },
    ];
    const pruned = await compressModel(bytes, recipe, { calib });
    const p = pruned.report.pruning;
    if (!p) throw new Error('no pruning report');
    t.ok(
      p.totals.paramsAfter <= p.totals.paramsBefore / 4,
      `params ${p.totals.paramsAfter} of ${p.totals.paramsBefore}`,
    );
    t.ok(p.fidelity && p.fidelity.samples > 0, 'checked against the original on calibration data');
    t.ok(p.sensitivity && p.sensitivity.length === 3, 'a sensitivity scan of the three prunable groups');
    const a = join(dir, 'pruned.onnx');
    writeFileSync(a, pruned.bytes);
    const [base, got] = [await top1(path), await top1(a)];
    t.ok(base - got <= 0.01 + 1e-9, `pruned top-1 ${got} vs ${base} (drop ${((base - got) * 100).toFixed(2)} points)`);

    const quant = await compressModel(pruned.bytes, 'int8-static', {
      calib: loadDataSource('mnist:calib:256', inputs),
    });
    const b = join(dir, 'pruned-int8.onnx');
    writeFileSync(b, quant.bytes);
    const q = await top1(b);
    t.ok(
      bytes.byteLength / quant.bytes.byteLength >= 10,
      `${(bytes.byteLength / quant.bytes.byteLength).toFixed(1)}× smaller`,
    );
    t.ok(base - q <= 0.012 + 1e-9, `pruned + int8 top-1 ${q} (drop ${((base - q) * 100).toFixed(2)} points)`);
  },
);

t.test('edgefleet compress runs a preset chain and prints the pruning table and a JSON report', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'chain.onnx');
  const report = join(dir, 'report.json');
  const args = [
    'compress',
    path,
    '-o',
    out,
    '--recipe',
    'prune-structured+reconstruct+int8-static',
    '--calib',
    'mnist:256',
  ];
  const table = await runCli([...args, '--report', report]);
  t.equal(table.code, 0, table.err);
  t.match(table.out, /pruning \(structured, reconstruction, reconstructed\): params 52,138 → /);
  t.match(table.out, /l6\.gemm\s+10 → 10\s+left whole: logits is a model output/);
  t.match(table.out, /l5\.gemm\s+[\d,]+ → [\d,]+\s+[\d,]+ → [\d,]+\s+0\.9\d+ \(0\.\d+ before refit\)/);
  const parsed = compressReportSchema.parse(JSON.parse(readFileSync(report, 'utf8')));
  t.same(
    parsed.passes.map((x) => [x.pass, x.ok]),
    [
      ['constants-to-initializers', true],
      ['prune-structured', true],
      ['reconstruct', true],
      ['opset-upgrade', true],
      ['fold-batchnorm', true],
      ['int8-static', true],
    ],
  );
  t.ok((parsed.pruning?.totals.macsAfter ?? Infinity) <= (parsed.pruning?.totals.macsBefore ?? 0) / 2, 'half the MACs');
  const bad = await runCli([
    'compress',
    path,
    '-o',
    join(dir, 'x.onnx'),
    '--recipe',
    '[{"pass":"prune-structured","ratio":1.5}]',
  ]);
  t.equal(bad.code, 1, 'a bad ratio fails the command');
  t.match(bad.err, /EF_ERR_RECIPE_INVALID/);
});
