/**
 * Folding a pool into the stride of the convolution before it (the pruned family's strided
 * option): the graph loses its MaxPools, keeps the weights, still runs in onnxruntime with the
 * same output shape; a fold that would change a later shape is refused with the reason.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { getAttrInts, loadModel, writeModel } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { buildNet, randomBatch } from '@edgefleet/compress/search/latency/index';
import { foldPoolsIntoStrides } from '@edgefleet/compress/search/fold-pools';

const cnn = readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url));

t.test('mnist-cnn with both pools folded runs with the same output shape', async (t) => {
  const model = loadModel(cnn);
  const weights = model.graph.initializers.get('l0.weight');
  t.equal(foldPoolsIntoStrides(model, ['strided', 'strided']), 2);
  t.same(
    model.graph.nodes.map((n) => n.opType),
    ['Conv', 'Relu', 'Conv', 'Relu', 'Flatten', 'Gemm', 'Relu', 'Gemm'],
  );
  const convs = model.graph.nodes.filter((n) => n.opType === 'Conv');
  t.same(
    convs.map((n) => getAttrInts(n, 'strides')),
    [
      [2, 2],
      [2, 2],
    ],
  );
  t.equal(model.graph.initializers.get('l0.weight'), weights, 'the weights are kept');
  const session = await createOrtSession(writeModel(model));
  const out = await session.run({
    input: { dtype: 'float32', dims: [3, 1, 28, 28], data: randomBatch([1, 28, 28], 3) },
  });
  await session.release();
  t.same(Object.values(out)[0]?.dims, [3, 10]);

  const one = loadModel(cnn);
  t.equal(foldPoolsIntoStrides(one, ['pool', 'strided']), 1, 'only the stages asked for');
  t.equal(one.graph.nodes.filter((n) => n.opType === 'MaxPool').length, 1);
});

t.test('a fold that changes the next shape is refused', async (t) => {
  // 27 → same-padded conv 27 → pool 13; a stride of 2 would give 14.
  const odd = buildNet({
    name: 'odd',
    input: [1, 27, 27],
    layers: [
      { kind: 'conv', filters: 4, kernel: 3, stride: 1 },
      { kind: 'relu' },
      { kind: 'maxpool', size: 2 },
      { kind: 'flatten' },
      { kind: 'dense', units: 10 },
    ],
  });
  t.throws(() => foldPoolsIntoStrides(odd, ['strided']), {
    code: 'EF_ERR_COMPRESS_FAILED',
    message: /gives 14 positions, the pool 13/,
  });
});
