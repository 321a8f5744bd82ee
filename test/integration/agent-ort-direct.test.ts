/**
 * The agent's onnxruntime sessions (agent/src/runtime/ort.ts) call the native session of
 * onnxruntime-node synchronously, past its public `run`: with the version the agent depends
 * on, that path is taken (an upgrade that moves the file fails here instead of falling back
 * unnoticed), and it answers bit for bit as the public API, with the public API's error for a
 * missing input. Real onnxruntime, real model.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createOrtSession } from '@edgefleet/agent/runtime/ort';
import { MNIST_CNN, mnistInput } from '../helpers/seeded-agent.js';

const model = readFileSync(MNIST_CNN);

t.test('the direct path is taken by default and answers as the public API, bit for bit', async (t) => {
  const direct = await createOrtSession(model, { intraOpNumThreads: 1 });
  const viaPublic = await createOrtSession(model, { intraOpNumThreads: 1, via: 'public' });
  t.equal(direct.path, 'direct', 'the pinned onnxruntime-node has its native session where ort.ts looks');
  t.equal(viaPublic.path, 'public');
  t.same(direct.inputNames, viaPublic.inputNames);
  t.same(direct.outputNames, viaPublic.outputNames);
  const one = mnistInput();
  const three = new Float32Array(3 * one.length);
  for (let i = 0; i < 3; i += 1)
    three.set(
      one.map((v) => v * (i + 1) * 0.5),
      i * one.length,
    );
  for (const [what, data, batch] of [
    ['batch 1', one, 1],
    ['batch 3', three, 3],
  ] as const) {
    const feeds = { input: { dims: [batch, 1, 28, 28], data } };
    const a = await direct.run(feeds);
    const b = await viaPublic.run(feeds);
    const name = direct.outputNames[0] as string;
    t.same(a.outputs[name]?.dims, [batch, 10], `${what}: dims`);
    t.ok(
      a.outputs[name]?.data.every((v, i) => Object.is(v, b.outputs[name]?.data[i])),
      `${what}: same numbers as the public API`,
    );
    t.ok(a.latencyMs >= 0, `${what}: latency measured`);
  }
});

t.test("bad input: a missing input is named, a wrong rank gets onnxruntime's error, both reject", async (t) => {
  const direct = await createOrtSession(model, { intraOpNumThreads: 1, via: 'direct' });
  await t.rejects(direct.run({ nope: { dims: [1, 1, 28, 28], data: mnistInput() } }), /input 'input' is missing/);
  await t.rejects(direct.run({ input: { dims: [1, 784], data: mnistInput() } }), /Invalid rank for input/);
  await t.rejects(createOrtSession(Buffer.from('not a model'), { intraOpNumThreads: 1, via: 'direct' }));
  // The session still answers after its refusals.
  const ok = await direct.run({ input: { dims: [1, 1, 28, 28], data: mnistInput() } });
  t.equal(ok.outputs[direct.outputNames[0] as string]?.data.length, 10);
});
