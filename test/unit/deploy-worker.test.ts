/** The inference worker with real onnxruntime: load, run, bad models, crashes that never take the agent down. */
import t from 'tap';
import { createModelWorker, createServingRuntime } from '@edgefleet/agent';
import { isEdgefleetError } from '@edgefleet/shared';
import { buildClassifier, INPUTS, predict, seededFloats } from '../fixtures/deploy-models.js';

t.setTimeout(60_000);

t.test("load and run in a worker thread: outputs, latency, the model's own answer", async (t) => {
  const worker = createModelWorker({ intraOpNumThreads: 1 });
  t.teardown(() => worker.terminate());
  const info = await worker.load(buildClassifier(11));
  t.same(info.inputNames, ['x']);
  t.same(info.outputNames, ['y']);
  const rows = seededFloats(3 * INPUTS, 9);
  const { outputs, latencyMs } = await worker.run({ x: { dims: [3, INPUTS], data: rows } });
  t.same(outputs.y?.dims, [3, 4]);
  t.ok(latencyMs >= 0);
  const y = outputs.y?.data ?? new Float32Array();
  const argmax = [0, 1, 2].map((r) => {
    const row = Array.from(y.subarray(r * 4, r * 4 + 4));
    return row.indexOf(Math.max(...row));
  });
  t.same(argmax, predict(11, rows), 'matches the reference computation');
});

t.test('a bad model and a bad feed are typed errors; the worker survives a bad feed', async (t) => {
  const bad = createModelWorker();
  t.teardown(() => bad.terminate());
  await t.rejects(bad.load(new Uint8Array([1, 2, 3, 4])), { code: 'EF_ERR_RUNTIME_LOAD' });
  const worker = createModelWorker();
  t.teardown(() => worker.terminate());
  await worker.load(buildClassifier(11));
  await t.rejects(worker.run({ nope: { dims: [1, INPUTS], data: new Float32Array(INPUTS) } }), {
    code: 'EF_ERR_RUNTIME_RUN',
  });
  t.same(
    (await worker.run({ x: { dims: [1, INPUTS], data: new Float32Array(INPUTS) } })).outputs.y?.dims,
    [1, 4],
    'still runs',
  );
});

t.test(
  'a crashing worker fails its calls with EF_ERR_RUNTIME_CRASH and reports once; the process lives on',
  async (t) => {
    const crashes: string[] = [];
    const worker = createModelWorker({
      onCrash: (reason) => crashes.push(reason),
      workerModule: new URL('../fixtures/crashing-inference-worker.ts', import.meta.url),
    });
    await worker.load(buildClassifier(11));
    const serving = createServingRuntime();
    serving.switchTo({ worker, sha256: 'a'.repeat(64), variantId: 'v', deploymentId: null });
    const err = await serving
      .infer({ x: { dims: [1, INPUTS], data: new Float32Array(INPUTS) } })
      .catch((e: unknown) => e);
    t.ok(isEdgefleetError(err, 'EF_ERR_RUNTIME_CRASH'), 'the call in flight fails with a typed error');
    t.equal(crashes.length, 1, 'onCrash called once');
    t.match(crashes[0], /worker crash on run/);
    t.match(worker.deadReason(), /worker crash on run/);
    const again = await serving
      .infer({ x: { dims: [1, INPUTS], data: new Float32Array(INPUTS) } })
      .catch((e: unknown) => e);
    t.ok(isEdgefleetError(again, 'EF_ERR_RUNTIME_CRASH'), 'and so does the next, without touching the dead thread');
    t.equal(serving.stats().errors, 2);
    await worker.terminate();
    t.equal(crashes.length, 1, 'terminating a dead worker is not another crash');
  },
);

t.test('terminate is not a crash', async (t) => {
  const crashes: string[] = [];
  const worker = createModelWorker({ onCrash: (reason) => crashes.push(reason) });
  await worker.load(buildClassifier(11));
  await worker.terminate();
  t.equal(worker.deadReason(), 'terminated');
  t.same(crashes, []);
  await t.rejects(worker.run({ x: { dims: [1, INPUTS], data: new Float32Array(INPUTS) } }), {
    code: 'EF_ERR_RUNTIME_CRASH',
  });
});
