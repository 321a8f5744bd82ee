/**
 * Scenarios are seeded and reproducible, even though they run over a real broker in real
 * time: the same seed gives the same decisions at the same virtual times and the same
 * telemetry, window for window. Latency figures are the exception by design: they scale the
 * host p95 the planner measures with real onnxruntime in each run, which varies from run to
 * run (the decisions, taken on ratios to those measurements, do not).
 */
import { join } from 'node:path';
import t from 'tap';
import pino from 'pino';
import type { DeviceClassInput } from '@edgefleet/shared';
import { parseFaults } from '@edgefleet/simulators';
import { createScenario } from '../helpers/scenario/closed-loop.js';

const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');
const START = 1_800_000_000_000;
const FAULT_AT = START + 3 * 60_000;

const cam: DeviceClassInput = {
  name: 'cam',
  capabilities: { precisions: ['fp32', 'fp16', 'int8'], memoryBytes: 1 << 30, storageBytes: 1 << 30, cores: 4 },
  speedModel: { version: 'replay-1', factors: { fp32: 4, fp16: 2, int8: 1 } },
  powerModel: { idleW: 1, activeW: { fp32: 4, fp16: 4, int8: 4 } },
  budgets: { minAccuracyPct: 90 },
};

/** One run: 6 devices, a wrong int8 unit from minute 3 and a device off the network for a minute. */
async function run(dir: string, seed: number) {
  const scenario = await createScenario({
    dataDir: dir,
    modelPath: MLP,
    classes: [cam],
    devicesPerClass: 6,
    recipes: ['fp16', 'int8-static'],
    seed,
    startAt: START,
    initial: { cam: 'int8-static' },
    faults: parseFaults([
      { kind: 'int8-wrong', target: { deviceClass: 'cam' }, startAt: FAULT_AT, accuracy: 0.35 },
      { kind: 'disconnect', target: { deviceIds: ['sim-2'] }, startAt: FAULT_AT, durationMs: 60_000 },
    ]),
    policy: { hysteresisMs: 30_000, cooldownMs: 600_000 },
    logger: pino({ level: 'silent' }),
  });
  try {
    await scenario.setup();
    await scenario.runUntil(FAULT_AT + 6 * 60_000);
    const decisions = (await scenario.decisions()).map((d) => `${d.at - START} ${d.kind} ${d.reason}`);
    const windows = [];
    for (const id of scenario.fleet.deviceIds)
      windows.push(
        (await scenario.server.telemetry().deviceSeries(id, { limit: 10_000 })).map((w) => [
          w.seq,
          w.windowStart - START,
          w.windowEnd - START,
          w.variantId,
          w.inferences,
          w.goldenAccuracy,
          w.receivedAt - START,
        ]),
      );
    return { decisions, windows };
  } finally {
    await scenario.close();
  }
}

t.test('the same seed replays the same story', async (t) => {
  const dir = t.testdir();
  const a = await run(join(dir, 'a'), 11);
  const b = await run(join(dir, 'b'), 11);
  t.ok(
    a.decisions.some((d) => / deploy /.test(d)),
    `the wrong int8 unit was answered (${a.decisions.length} decisions)`,
  );
  t.same(b.decisions, a.decisions, 'same decisions, same virtual times, same reasons');
  t.same(
    b.windows,
    a.windows,
    'same windows on every device: seq, times, variant, inferences, golden accuracy, arrival',
  );
  t.ok(
    a.windows.every((ws) => ws.length >= 50),
    'every device reported throughout',
  );
});
