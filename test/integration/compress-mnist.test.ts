import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compressModel } from '@edgefleet/compress/compress-model';
import { evaluateModel, modelInputsOf } from '@edgefleet/compress/eval/index';
import { loadModel } from '@edgefleet/compress/ir/index';
import { decodeModelProto } from '@edgefleet/compress/ir/proto';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { loadDataSource } from '@edgefleet/compress/data/source';

// The issue's quality bar on the committed zoo teachers: accuracy on the seeded 2000-sample test
// split, calibration on the separate calib split (mnist:256), file size as a share of fp32.
const zoo = (name: string): string => fileURLToPath(new URL(`../../models/zoo/${name}.onnx`, import.meta.url));
const TABLE = [
  // 0.275: the logits layer is quantized too now (a Q/DQ pair and its scale), as onnxruntime's quantizer does.
  { model: 'mnist-cnn', recipe: 'int8-static', maxDrop: 0.005, maxRatio: 0.275 },
  { model: 'mnist-mlp', recipe: 'int4-weights', maxDrop: 0.01, maxRatio: 0.16 },
  { model: 'mnist-mlp', recipe: 'int8-dynamic', maxDrop: 0.005, maxRatio: 0.3 },
] as const;

async function top1(path: string): Promise<number> {
  const r = await evaluateModel(path, { latency: false });
  if (!r.accuracy) throw new Error(`no accuracy for ${path}`);
  return r.accuracy.top1;
}

/** Op types (domain-qualified) of the graph onnxruntime actually runs after its optimizations. */
async function optimizedOps(bytes: Uint8Array, dir: string): Promise<string[]> {
  const out = join(dir, 'optimized.onnx');
  const s = await createOrtSession(bytes, { optimizedModelFilePath: out });
  await s.release();
  return (decodeModelProto(readFileSync(out)).graph?.node ?? []).map(
    (n) => `${n.domain ? `${n.domain}.` : ''}${n.opType ?? ''}`,
  );
}

for (const row of TABLE) {
  t.test(
    `${row.model} ${row.recipe}: accuracy within ${row.maxDrop * 100} points, file ≤ ` +
      `${+(row.maxRatio * 100).toFixed(1)}%`,
    async (t) => {
      const bytes = readFileSync(zoo(row.model));
      const calib = loadDataSource('mnist:256', modelInputsOf(loadModel(bytes)), { defaultSplit: 'calib' });
      const { bytes: out, report } = await compressModel(bytes, row.recipe, { calib });
      const dir = t.testdir();
      const path = join(dir, 'out.onnx');
      writeFileSync(path, out);
      const [base, got] = [await top1(zoo(row.model)), await top1(path)];
      t.ok(
        base - got <= row.maxDrop + 1e-9,
        `top-1 ${got} vs fp32 ${base} (drop ${((base - got) * 100).toFixed(2)} points)`,
      );
      t.ok(report.size.ratio <= row.maxRatio, `size ${(report.size.ratio * 100).toFixed(2)}% of fp32`);
      t.equal(report.size.afterBytes, out.length, 'report size is the written size');
      const again = await compressModel(bytes, row.recipe, { calib });
      t.equal(again.report.sha256, report.sha256, 'deterministic');
    },
  );
}

t.test('mnist-cnn int8-static runs as integer kernels end to end in onnxruntime', async (t) => {
  const bytes = readFileSync(zoo('mnist-cnn'));
  const calib = loadDataSource('mnist:64', modelInputsOf(loadModel(bytes)), { defaultSplit: 'calib' });
  const { bytes: out } = await compressModel(bytes, 'int8-static', { calib });
  const ops = await optimizedOps(out, t.testdir());
  t.equal(ops.filter((o) => o === 'com.microsoft.QLinearConv').length, 2, 'both convolutions fused into QLinearConv');
  t.equal(ops.filter((o) => o === 'com.microsoft.QGemm').length, 2, 'both dense layers fused into QGemm');
  t.equal(
    ops.filter((o) => o === 'com.microsoft.NhwcMaxPool').length,
    2,
    'pooling runs on uint8 (no DQ/Q around MaxPool)',
  );
  t.same(
    ops.filter((o) => /^(Conv|Gemm|MaxPool)$/.test(o) || o.endsWith('nchwc.Conv')),
    [],
    'no float Conv/Gemm/MaxPool left',
  );
  // The logits layer is a quantized layer too (as onnxruntime's quantizer makes it): its QGemm
  // writes uint8 and one DequantizeLinear hands the caller float logits.
  t.equal(ops.filter((o) => o === 'DequantizeLinear').length, 1, 'one DequantizeLinear, at the graph output');
  const g = loadModel(out).graph;
  t.equal(g.producerOf(g.outputs[0]?.name ?? '')?.opType, 'DequantizeLinear', 'the graph output is read through it');
  t.equal(ops.filter((o) => o === 'QuantizeLinear').length, 1, 'only the model input is quantized at run time');
});

t.test('mnist-mlp int8-dynamic and int4-weights keep their contrib kernels after optimization', async (t) => {
  const bytes = readFileSync(zoo('mnist-mlp'));
  for (const [recipe, op] of [
    ['int8-dynamic', 'com.microsoft.DynamicQuantizeMatMul'],
    ['int4-weights', 'com.microsoft.MatMulNBits'],
  ] as const) {
    const { bytes: out } = await compressModel(bytes, recipe);
    const ops = await optimizedOps(out, t.testdir());
    t.equal(ops.filter((o) => o === op).length, 3, `${recipe}: three ${op}`);
    t.same(
      ops.filter((o) => /Gemm|MatMul$/.test(o) && o !== op),
      [],
      `${recipe}: no float Gemm/MatMul left`,
    );
  }
});
