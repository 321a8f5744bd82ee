import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadModel, sha256Hex, verifyModel } from '@edgefleet/compress/ir/index';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { accuracyOf } from '@edgefleet/compress/eval/metrics';
import { ZOO_RECIPES, zooLayout, type ZooCard, type ZooName } from '@edgefleet/compress/train/zoo';

const ALLOWED_OPS = new Set(['Gemm', 'MatMul', 'Add', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Reshape', 'Softmax']);

for (const name of Object.keys(ZOO_RECIPES) as ZooName[]) {
  t.test(`${name}: the committed model reaches its floor on the held-out test split`, async (t) => {
    const card = JSON.parse(readFileSync(`models/zoo/${name}.json`, 'utf8')) as ZooCard;
    const bytes = new Uint8Array(readFileSync(`models/zoo/${card.file}`));
    t.equal(sha256Hex(bytes), card.sha256, 'the card describes this exact file');
    const model = loadModel(bytes);
    t.ok(verifyModel(model).ok, 'verifies');
    const ops = model.graph.nodes.map((n) => n.opType);
    t.ok(
      ops.every((op) => ALLOWED_OPS.has(op)),
      `only zoo ops: ${[...new Set(ops)].join(', ')}`,
    );
    const input = model.graph.inputs[0]?.type;
    const shape = input?.kind === 'tensor' ? input.shape : undefined;
    t.equal(typeof shape?.[0], 'string', 'batch dim is symbolic');
    t.same(shape?.slice(1), zooLayout(name) === 'flat' ? [784] : [1, 28, 28]);
    if (name === 'mnist-mlp')
      t.equal(ops.filter((o) => o === 'Gemm').length, 3, 'two hidden layers and an output layer');
    else t.ok(ops.filter((o) => o === 'Conv').length >= 2, 'at least two conv layers');

    const test = loadMnist({ split: 'test', layout: zooLayout(name) });
    const session = await createOrtSession(bytes);
    t.teardown(() => session.release());
    const pixels = test.inputs.input;
    if (!pixels) throw new Error('no pixels');
    const out = await session.run({
      input: { dtype: 'float32', dims: pixels.dims, data: pixels.data as Float32Array },
    });
    const logits = out.logits;
    if (logits?.dtype !== 'float32') throw new Error('no float32 logits');
    t.same(logits.dims, [2000, 10], '10 scores per sample');
    const acc = accuracyOf(logits.data, test.labels as Int32Array);
    t.equal(acc.count, 2000);
    t.ok(
      acc.top1 >= ZOO_RECIPES[name].floor,
      `top-1 ${(acc.top1 * 100).toFixed(2)}% ≥ ${ZOO_RECIPES[name].floor * 100}%`,
    );
    t.equal(acc.top1, card.accuracy.top1, 'matches the card');

    // The batch dimension really is dynamic: a single sample gives the same scores.
    const one = await session.run({
      input: {
        dtype: 'float32',
        dims: [1, ...pixels.dims.slice(1)],
        data: (pixels.data as Float32Array).subarray(0, 784),
      },
    });
    const first = one.logits?.data as Float32Array;
    t.ok(
      Array.from(first).every((v, i) => Math.abs(v - (logits.data[i] as number)) < 1e-4),
      'batch of 1 agrees with the full batch',
    );
  });
}
