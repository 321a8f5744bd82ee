/**
 * Passes on models with If branches (built by test/fixtures/ir-models.ts, no network): weights
 * inside branches and weights branches read from the outer graph are quantized by the weight
 * passes; fp16 keeps one type across the branch boundary and for outer-scope reads; int8-static
 * names every branch layer it leaves; every result is loaded and run in onnxruntime first.
 */
import t from 'tap';
import { compressModel, loadModel, writeModel } from '@edgefleet/compress';
import { createOrtSession, type RuntimeTensor } from '@edgefleet/compress/runtime/ort';
import { buildBranchyMatMul, seededFloats } from '../fixtures/ir-models.js';

const bytes = writeModel(buildBranchyMatMul());

async function run(model: Uint8Array, useA: boolean): Promise<Float32Array> {
  const s = await createOrtSession(model);
  try {
    const feeds: Record<string, RuntimeTensor> = {
      x: { dtype: 'float32', dims: [1, 4], data: seededFloats(4, 3) },
      use_a: { dtype: 'bool', dims: [], data: Uint8Array.of(useA ? 1 : 0) },
    };
    const y = (await s.run(feeds)).y;
    if (y?.dtype !== 'float32') throw new Error('no float output y');
    return y.data;
  } finally {
    await s.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] ?? 0))), 0);

t.test('unused opset declarations are dropped on write; If branches survive bit-exactly', async (t) => {
  const m = loadModel(bytes);
  t.same(
    m.opsetImports.map((o) => o.domain),
    [''],
    'org.pytorch.aten and com.ms.internal.nhwc are gone',
  );
  const again = writeModel(m);
  for (const useA of [true, false])
    t.same(await run(again, useA), await run(bytes, useA), `branch ${useA ? 'then' : 'else'}: identical`);
});

t.test(
  "weight passes quantize MatMuls inside branches, whether the weight is the branch's or the outer graph's",
  async (t) => {
    for (const recipe of ['int8-weights', 'int8-dynamic', 'int4-weights'] as const) {
      const { bytes: out, report } = await compressModel(bytes, recipe);
      const inside = report.layers.filter((l) => l.node.startsWith('mm_'));
      t.same(
        inside.map((l) => [l.node, l.precision === 'fp32' ? 'fp32' : 'quantized']).sort(),
        [
          ['mm_a', 'quantized'],
          ['mm_b', 'quantized'],
        ],
        `${recipe}: ${inside.map((l) => `${l.node} ${l.precision} (${l.reason})`).join('; ')}`,
      );
      t.match(report.runtimeCheck, { loads: true }, `${recipe}: onnxruntime loaded the result`);
      for (const useA of [true, false]) {
        // 4-bit blocks over K=4 values are coarse; int8 is held to a tighter bound.
        const d = maxDiff(await run(out, useA), await run(bytes, useA));
        const bound = recipe === 'int4-weights' ? 0.15 : 0.05;
        t.ok(d < bound, `${recipe} ${useA ? 'then' : 'else'}: max |Δ| ${d.toFixed(3)} < ${bound}`);
      }
    }
  },
);

t.test('fp16: branch outputs and outer-scope reads are float16 too, the model loads and runs', async (t) => {
  const { bytes: out, report } = await compressModel(bytes, 'fp16');
  t.match(report.runtimeCheck, { loads: true, ran: true, on: 'one synthetic sample' });
  const g = loadModel(out).graph;
  const pick = g.nodes.find((n) => n.opType === 'If');
  const branch = pick?.attributes.find((a) => a.name === 'then_branch');
  t.ok(
    branch?.kind === 'graph' &&
      branch.value.outputs.every((o) => o.type?.kind === 'tensor' && o.type.elemType === 'float16'),
    'branch outputs are declared float16',
  );
  t.ok(
    branch?.kind === 'graph' && branch.value.nodes.some((n) => n.inputs.includes('x_fp16')),
    'the branch reads the Cast of x, not float32 x',
  );
  for (const useA of [true, false])
    t.ok(maxDiff(await run(out, useA), await run(bytes, useA)) < 0.01, `fp16 ${useA ? 'then' : 'else'}: close to fp32`);
});

t.test('int8-static leaves branch layers in float and says so for each', async (t) => {
  const { bytes: input } = { bytes };
  const calib = {
    source: 'fixture',
    count: 8,
    inputs: { x: { dtype: 'float32' as const, dims: [8, 4], data: seededFloats(32, 5) } },
    fixed: { use_a: { dtype: 'bool' as const, dims: [], data: Uint8Array.of(1) } },
    runBatch: 1,
  };
  const { report } = await compressModel(input, 'int8-static', { calib });
  const notes = report.layers.filter((l) => l.node.startsWith('mm_'));
  t.equal(notes.length, 2);
  t.ok(
    notes.every(
      (l) => l.precision === 'fp32' && /inside (then|else)_branch of If 'pick': left in float/.test(l.reason),
    ),
    notes.map((l) => l.reason).join(' | '),
  );
  t.match(report.passes.find((p) => p.pass === 'int8-static')?.summary, /2 layer\(s\) inside subgraphs left in float/);
  t.match(report.runtimeCheck, { loads: true, ran: true, on: 'calibration sample 1 of 8' });
});
