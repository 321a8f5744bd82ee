/**
 * Inference faults the simulators inject through the agent's wrapWorker seam
 * (simulators/src/faults/inference-faults.ts): off is a pass-through, corruptOutputs is finite but wrong.
 */
import t from 'tap';
import type { ModelWorker } from '@edgefleet/agent';
import { corruptTensor, createInferenceFaults, withFaults, type InferenceFaults } from '@edgefleet/simulators';

const outputs = { y: { dims: [2, 3], data: Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.3, 0.2]) } };
const worker = {
  load: async () => ({ inputNames: ['x'], outputNames: ['y'], loadMs: 0 }),
  run: async () => ({ outputs, latencyMs: 1 }),
  terminate: async () => undefined,
  kind: 'worker',
  deadReason: () => null,
  info: () => null,
} satisfies ModelWorker;

t.test('corruptTensor rotates each row one lane: finite values, top-1 moved on every row', async (t) => {
  const c = corruptTensor(outputs.y);
  t.same(Array.from(c.data), Array.from(Float32Array.from([0.7, 0.2, 0.1, 0.3, 0.2, 0.5])));
  t.same(c.dims, [2, 3]);
  t.ok(c.data.every(Number.isFinite));
  t.same(Array.from(outputs.y.data), Array.from(Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.3, 0.2])), 'input untouched');
  const single = { dims: [4, 1], data: Float32Array.from([1, 2, 3, 4]) };
  t.equal(corruptTensor(single), single, 'one lane cannot be rotated');
});

t.test("withFaults reads the faults at each call; off returns the worker's results untouched", async (t) => {
  let faults: InferenceFaults = {};
  const wrapped = withFaults(worker, () => faults);
  t.equal((await wrapped.run({})).outputs, outputs, 'no fault: same object');
  faults = { corruptOutputs: true };
  t.same(
    Array.from((await wrapped.run({})).outputs.y?.data ?? []),
    Array.from(corruptTensor(outputs.y).data),
    'fault on: corrupted',
  );
  faults = {};
  t.equal((await wrapped.run({})).outputs, outputs, 'healed');
  t.equal(wrapped.deadReason(), null, 'other methods delegate');
});

t.test('a fault switch starts faults mid-life and heals them, for every worker it wrapped', async (t) => {
  const faults = createInferenceFaults();
  const first = faults.wrap(worker);
  const second = faults.wrap(worker);
  t.equal((await first.run({})).outputs, outputs, 'off by default');
  faults.set({ corruptOutputs: true });
  t.same(faults.current(), { corruptOutputs: true });
  for (const w of [first, second])
    t.same(Array.from((await w.run({})).outputs.y?.data ?? []), Array.from(corruptTensor(outputs.y).data));
  faults.set({});
  t.equal((await second.run({})).outputs, outputs, 'healed');
});
