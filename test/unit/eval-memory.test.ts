import t from 'tap';
import {
  attr,
  createModel,
  floatTensor,
  tensorValueInfo,
  type Model,
  type NodeSpec,
} from '@edgefleet/compress/ir/index';
import { estimateGraphMemory } from '@edgefleet/compress/eval/memory';
import { broadcastDims, inferShapes } from '@edgefleet/compress/eval/shapes';

function mlp(extra: NodeSpec[] = [], out = 'out'): Model {
  return createModel({
    opsets: { '': 13 },
    graph: {
      inputs: [tensorValueInfo('x', 'float32', ['N', 784])],
      outputs: [tensorValueInfo(out, 'float32', ['N', 10])],
      initializers: [
        floatTensor('w1', [784, 8], new Float32Array(784 * 8)),
        floatTensor('b1', [8], new Float32Array(8)),
        floatTensor('w2', [8, 10], new Float32Array(80)),
        floatTensor('b2', [10], new Float32Array(10)),
      ],
      nodes: [
        { opType: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['h'] },
        { opType: 'Relu', inputs: ['h'], outputs: ['r'] },
        { opType: 'Gemm', inputs: ['r', 'w2', 'b2'], outputs: ['out'] },
        ...extra,
      ],
    },
  });
}

t.test('weights plus the largest live activation set, by hand', async (t) => {
  const m = estimateGraphMemory(mlp(), { x: [1, 784] }, 1);
  t.equal(m.weightBytes, (784 * 8 + 8 + 80 + 10) * 4);
  // step 0: x (3136 B) and h (32 B) alive; later steps hold at most 72 B.
  t.equal(m.activationPeakBytes, 3136 + 32);
  t.equal(m.estimatedPeakBytes, m.weightBytes + 3168);
  t.same(m.unknownOps, []);
  const b4 = estimateGraphMemory(mlp(), { x: [4, 784] }, 4);
  t.equal(b4.activationPeakBytes, 4 * 3168, 'activations scale with the batch');
});

t.test('an op without a shape rule makes the peak unknown, not wrong', async (t) => {
  const model = mlp(
    [
      { opType: 'NonZero', inputs: ['out'], outputs: ['nz'] },
      { opType: 'Relu', inputs: ['nz'], outputs: ['nz2'] },
    ],
    'nz2',
  );
  const m = estimateGraphMemory(model, { x: [1, 784] }, 1);
  t.equal(m.activationPeakBytes, null);
  t.equal(m.estimatedPeakBytes, null);
  t.same(m.unknownOps, ['NonZero'], 'the cause is named, not the ops downstream of it');
  t.equal(m.unknownValues, 2);
  t.equal(m.activationPeakKnownBytes, 3168);
});

t.test('conv, pool, flatten and reshape shapes', async (t) => {
  const model = createModel({
    opsets: { '': 13 },
    graph: {
      inputs: [tensorValueInfo('x', 'float32', ['N', 1, 28, 28])],
      outputs: [tensorValueInfo('y', 'float32', ['N', 1568])],
      initializers: [
        floatTensor('w', [8, 1, 3, 3], new Float32Array(72)),
        { name: 'shape', dtype: 'int64', dims: [2], data: new BigInt64Array([0n, -1n]), docString: '' },
      ],
      nodes: [
        {
          opType: 'Conv',
          inputs: ['x', 'w'],
          outputs: ['c'],
          attributes: [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
        },
        { opType: 'Conv', inputs: ['x', 'w'], outputs: ['cv'], attributes: [attr.ints('strides', [2, 2])] },
        {
          opType: 'MaxPool',
          inputs: ['c'],
          outputs: ['p'],
          attributes: [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])],
        },
        { opType: 'Flatten', inputs: ['p'], outputs: ['f'], attributes: [attr.int('axis', 1)] },
        { opType: 'Reshape', inputs: ['p', 'shape'], outputs: ['y'] },
        { opType: 'Transpose', inputs: ['c'], outputs: ['tr'], attributes: [attr.ints('perm', [0, 2, 3, 1])] },
        { opType: 'Add', inputs: ['c', 'x'], outputs: ['sum'] },
        { opType: 'GlobalAveragePool', inputs: ['c'], outputs: ['g'] },
        { opType: 'Concat', inputs: ['c', 'c'], outputs: ['cat'], attributes: [attr.int('axis', 1)] },
      ],
    },
  });
  const s = inferShapes(model.graph, model.graph.nodes, { x: [2, 1, 28, 28] });
  const dims = (n: string): number[] | undefined => s.values.get(n)?.dims;
  t.same(dims('c'), [2, 8, 28, 28]);
  t.same(dims('cv'), [2, 8, 13, 13]);
  t.same(dims('p'), [2, 8, 14, 14]);
  t.same(dims('f'), [2, 1568]);
  t.same(dims('y'), [2, 1568]);
  t.same(dims('tr'), [2, 28, 28, 8]);
  t.same(dims('sum'), [2, 8, 28, 28]);
  t.same(dims('g'), [2, 8, 1, 1]);
  t.same(dims('cat'), [2, 16, 28, 28]);
  t.same(s.unknownOps, []);
});

t.test('broadcasting', async (t) => {
  t.same(
    broadcastDims([
      [2, 1, 4],
      [3, 1],
    ]),
    [2, 3, 4],
  );
  t.same(broadcastDims([[5], []]), [5]);
  t.equal(
    broadcastDims([
      [2, 3],
      [4, 3],
    ]),
    undefined,
  );
});
