import t from 'tap';
import { createGraph, createModel, tensorValueInfo, writeModel } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { buildMlp, seededFloats } from '../fixtures/ir-models.js';

t.test('a session reports its inputs/outputs and runs typed feeds', async (t) => {
  const session = await createOrtSession(writeModel(buildMlp()), {
    intraOpNumThreads: 1,
    graphOptimizationLevel: 'disabled',
  });
  t.same(session.inputs, [{ name: 'x', isTensor: true, dtype: 'float32', shape: ['N', 16] }]);
  t.same(session.outputs, [{ name: 'y', isTensor: true, dtype: 'float32', shape: ['N', 4] }]);
  const out = await session.run({ x: { dtype: 'float32', dims: [3, 16], data: seededFloats(48, 1) } });
  const y = out.y;
  t.equal(y?.dtype, 'float32');
  t.same(y?.dims, [3, 4]);
  const rows =
    y?.dtype === 'float32' ? [0, 1, 2].map((r) => y.data.subarray(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)) : [];
  t.ok(rows.length === 3 && rows.every((s) => Math.abs(s - 1) < 1e-5), `softmax rows sum to 1: ${rows.join(', ')}`);
  const only = await session.run({ x: { dtype: 'float32', dims: [1, 16], data: seededFloats(16, 2) } }, ['y']);
  t.same(Object.keys(only), ['y']);
  await session.release();
  await session.release();
  await t.rejects(session.run({}), /released/);
});

t.test('bad feeds are EF_ERR_DATA_SHAPE naming both sides', async (t) => {
  const session = await createOrtSession(writeModel(buildMlp()));
  t.teardown(() => session.release());
  const x = seededFloats(16, 1);
  await t.rejects(session.run({}), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /no data for model input 'x' \(expects 'x' float32\[N, 16\]\)/,
  });
  await t.rejects(
    session.run({
      x: { dtype: 'float32', dims: [1, 16], data: x },
      z: { dtype: 'float32', dims: [1], data: x.subarray(0, 1) },
    }),
    { code: 'EF_ERR_DATA_SHAPE', message: /has no input 'z'/ },
  );
  await t.rejects(session.run({ x: { dtype: 'float32', dims: [2, 16], data: x } }), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /dims \[2, 16\] \(32 elements\) but 16 values/,
  });
  await t.rejects(session.run({ x: { dtype: 'float32', dims: [2, 8], data: x } }), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /expects shape \[N, 16\], got \[2, 8\]/,
  });
  await t.rejects(session.run({ x: { dtype: 'int32', dims: [1, 16], data: new Int32Array(16) } }), {
    code: 'EF_ERR_DATA_SHAPE',
    message: /expects float32 data, got int32/,
  });
});

t.test('models onnxruntime refuses are EF_ERR_RUNTIME_LOAD; kernel failures EF_ERR_RUNTIME_RUN', async (t) => {
  const g = createGraph({
    inputs: [tensorValueInfo('x', 'float32', [2])],
    outputs: [tensorValueInfo('y', 'float32', [2])],
  });
  g.addNode({ opType: 'NoSuchOperator', inputs: ['x'], outputs: ['y'] });
  await t.rejects(createOrtSession(writeModel(createModel({ graph: g, opsets: { '': 13 } }))), {
    code: 'EF_ERR_RUNTIME_LOAD',
    message: /onnxruntime could not load the model: .*NoSuchOperator/,
  });
  await t.rejects(createOrtSession(Uint8Array.of(1, 2, 3)), { code: 'EF_ERR_RUNTIME_LOAD' });

  // Reshape to a shape the data does not fit only fails at run time.
  const r = createGraph({
    inputs: [tensorValueInfo('x', 'float32', ['n']), tensorValueInfo('s', 'int64', [1])],
    outputs: [tensorValueInfo('y', 'float32')],
  });
  r.addNode({ opType: 'Reshape', inputs: ['x', 's'], outputs: ['y'] });
  const session = await createOrtSession(writeModel(createModel({ graph: r, opsets: { '': 13 } })));
  t.teardown(() => session.release());
  await t.rejects(
    session.run({
      x: { dtype: 'float32', dims: [6], data: new Float32Array(6) },
      s: { dtype: 'int64', dims: [1], data: BigInt64Array.of(4n) },
    }),
    { code: 'EF_ERR_RUNTIME_RUN' },
  );
});
