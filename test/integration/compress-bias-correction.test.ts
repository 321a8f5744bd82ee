import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compressModel } from '@edgefleet/compress/compress-model';
import { openSession } from '@edgefleet/compress/calibration/session';
import { createOrtCalibrationRunner } from '@edgefleet/compress/calibration/collect';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import { createModel, floatTensor, tensorValueInfo } from '@edgefleet/compress/ir/builders';
import { loadModel, verifyGraph } from '@edgefleet/compress/ir/index';
import { writeModel } from '@edgefleet/compress/ir/encode';
import { runPipeline } from '@edgefleet/compress/pipeline';
import { passFor } from '@edgefleet/compress/recipes';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';
import { decodeModelProto } from '@edgefleet/compress/ir/proto';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { randomOfShape } from '@edgefleet/compress/data/random';
import type { Dataset } from '@edgefleet/compress/data/tensor';
import { isEdgefleetError } from '@edgefleet/shared';

// Calibrate on the MNIST calib split, measure on the separate 2000-sample test split (held out).
const zoo = (name: string): Uint8Array =>
  readFileSync(fileURLToPath(new URL(`../../models/zoo/${name}.onnx`, import.meta.url)));
const C2I = { pass: 'constants-to-initializers' };

async function outputs(bytes: Uint8Array, data: Dataset): Promise<Float32Array> {
  const s = await openSession(bytes);
  const feeds = Object.fromEntries(
    Object.entries(data.inputs).map(([k, v]) => [k, { dtype: v.dtype, dims: v.dims, data: v.data }]),
  );
  const out = Object.values(await s.run(feeds))[0]?.data;
  await s.release();
  if (!out) throw new Error('no output');
  return out;
}

/** MSE and cosine of `got` to the fp32 `ref`, and top-1 against `labels` when given. */
function fidelity(
  ref: Float32Array,
  got: Float32Array,
  labels?: Int32Array,
): { mse: number; cosine: number; top1: number } {
  let se = 0,
    d = 0,
    a = 0,
    b = 0;
  for (let i = 0; i < ref.length; i++) {
    const u = ref[i] ?? 0,
      v = got[i] ?? 0;
    se += (u - v) ** 2;
    d += u * v;
    a += u * u;
    b += v * v;
  }
  let ok = 0;
  const k = labels ? got.length / labels.length : 0;
  labels?.forEach((label, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if ((got[i * k + j] ?? -Infinity) > (got[i * k + best] ?? -Infinity)) best = j;
    if (best === label) ok++;
  });
  return { mse: se / ref.length, cosine: d / Math.sqrt(a * b), top1: labels ? ok / labels.length : NaN };
}

const CASES = [
  { model: 'mnist-mlp', quant: { pass: 'int4-weights', options: { blockSize: 128 } }, maxMseShare: 0.5 },
  { model: 'mnist-cnn', quant: { pass: 'int8-weights' }, maxMseShare: 0.8 },
  // floatOutputs: the logits' own output quantization is rounding no bias can correct; keep it out
  // so the test measures what bias correction is for.
  { model: 'mnist-cnn', quant: { pass: 'int8-static', options: { floatOutputs: true } }, maxMseShare: 0.8 },
] as const;

for (const c of CASES) {
  t.test(`${c.model} ${c.quant.pass}: bias correction lowers output error on held-out data`, async (t) => {
    const bytes = zoo(c.model);
    const inputs = modelInputsOf(loadModel(bytes));
    const calib = loadDataSource('mnist:256', inputs, { defaultSplit: 'calib' });
    const test = loadDataSource('mnist:test', inputs, { defaultSplit: 'test' });
    const ref = await outputs(bytes, test);
    const plain = await compressModel(bytes, [C2I, c.quant], { calib });
    const corrected = await compressModel(bytes, [C2I, c.quant, { pass: 'bias-correction' }], { calib });
    const before = fidelity(ref, await outputs(plain.bytes, test), test.labels);
    const after = fidelity(ref, await outputs(corrected.bytes, test), test.labels);
    t.ok(
      after.mse <= before.mse * c.maxMseShare,
      `MSE to fp32 ${before.mse.toExponential(3)} → ${after.mse.toExponential(3)} (≤ ${c.maxMseShare}×)`,
    );
    t.ok(after.cosine > before.cosine, `cosine ${before.cosine.toFixed(6)} → ${after.cosine.toFixed(6)}`);
    t.ok(after.top1 >= before.top1 - 0.002, `top-1 ${before.top1} → ${after.top1} (may not drop more than 0.2 points)`);
    const pass = corrected.report.passes.find((p) => p.pass === 'bias-correction');
    const layerCount = loadModel(bytes).graph.nodes.filter((n) => ['Conv', 'Gemm'].includes(n.opType)).length;
    t.equal(pass?.stats.corrected, layerCount, `every quantized layer corrected (${layerCount})`);
    const notes = corrected.report.layers.filter((l) =>
      /bias corrected .*L2 [\d.e+-]+, max \|Δ\| [\d.e+-]+ over \d+ channels/.test(l.reason),
    );
    t.equal(notes.length, layerCount, 'the report gives each layer its correction L2 and max |Δ|');
    t.ok(verifyGraph(loadModel(corrected.bytes).graph).ok, 'output verifies');
    if (c.model === 'mnist-mlp') {
      const again = await compressModel(bytes, [C2I, c.quant, { pass: 'bias-correction' }], { calib });
      t.equal(again.report.sha256, corrected.report.sha256, 'deterministic');
    }
  });
}

t.test('int8-static-bc keeps the integer kernels (the correction goes into the int32 bias)', async (t) => {
  const bytes = zoo('mnist-cnn');
  const calib = loadDataSource('mnist:64', modelInputsOf(loadModel(bytes)), { defaultSplit: 'calib' });
  const { bytes: out } = await compressModel(bytes, 'int8-static-bc', { calib });
  const path = join(t.testdir(), 'opt.onnx');
  const s = await createOrtSession(out, { optimizedModelFilePath: path });
  await s.release();
  const ops = (decodeModelProto(readFileSync(path)).graph?.node ?? []).map((n) => n.opType ?? '');
  t.equal(ops.filter((o) => o === 'QLinearConv').length, 2, 'two QLinearConv');
  t.equal(ops.filter((o) => o === 'QGemm').length, 2, 'two QGemm');
});

/** Seeded weights with a positive mean, so rounding them biases the outputs. */
function weights(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.3) * 0.5;
  });
}

/** x[?,64] · W[64,16], no bias: bias correction must create one (MatMulNBits input 5, or an Add after a QDQ MatMul). */
function matmulModel(): Uint8Array {
  return writeModel(
    createModel({
      opsets: { '': 13 },
      graph: {
        name: 'mm',
        inputs: [tensorValueInfo('x', 'float32', ['N', 64])],
        outputs: [tensorValueInfo('y', 'float32')],
        initializers: [floatTensor('W', [64, 16], weights(64 * 16, 12345))],
        nodes: [{ name: 'mm', opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
      },
    }),
  );
}

/** Two bias-free Gemms with a Relu between: int8-static quantizes the first one's output. */
function gemmModel(): Uint8Array {
  return writeModel(
    createModel({
      opsets: { '': 13 },
      graph: {
        name: 'gg',
        inputs: [tensorValueInfo('x', 'float32', ['N', 64])],
        outputs: [tensorValueInfo('y', 'float32')],
        initializers: [
          floatTensor('W1', [64, 32], weights(64 * 32, 777)),
          floatTensor('W2', [32, 8], weights(32 * 8, 999)),
        ],
        nodes: [
          { name: 'g1', opType: 'Gemm', inputs: ['x', 'W1'], outputs: ['h'] },
          { name: 'r1', opType: 'Relu', inputs: ['h'], outputs: ['hr'] },
          { name: 'g2', opType: 'Gemm', inputs: ['hr', 'W2'], outputs: ['y'] },
        ],
      },
    }),
  );
}

t.test('int8-static Gemm without bias gets an int32 bias through DequantizeLinear (fusable)', async (t) => {
  const bytes = gemmModel();
  const calib = randomOfShape([64, 64], 'x', { seed: 1 });
  const held = randomOfShape([64, 64], 'x', { seed: 2 });
  const ref = await outputs(bytes, held);
  const steps = [{ pass: 'int8-static', options: { fidelity: 0 } }];
  const plain = await compressModel(bytes, steps, { calib });
  const bc = await compressModel(bytes, [...steps, { pass: 'bias-correction' }], { calib });
  const g = loadModel(bc.bytes).graph;
  for (const name of ['g1', 'g2']) {
    const node = g.nodes.find((n) => n.name === name);
    const dq = g.producerOf(node?.inputs[2] ?? '');
    t.ok(
      dq?.opType === 'DequantizeLinear' && g.initializers.get(dq.inputs[0] ?? '')?.dtype === 'int32',
      `${name}: bias is int32 through DequantizeLinear`,
    );
  }
  const [a, b] = [fidelity(ref, await outputs(plain.bytes, held)), fidelity(ref, await outputs(bc.bytes, held))];
  t.ok(b.mse < a.mse, `MSE ${a.mse.toExponential(3)} → ${b.mse.toExponential(3)} on other seeded inputs`);
});

t.test('a MatMul without bias gets one: MatMulNBits bias input, or an Add after a weight-only MatMul', async (t) => {
  const bytes = matmulModel();
  const calib = randomOfShape([64, 64], 'x', { seed: 1 });
  const held = randomOfShape([64, 64], 'x', { seed: 2 });
  const ref = await outputs(bytes, held);
  for (const [quant, check] of [
    [
      { pass: 'int4-weights', options: { blockSize: 32, symmetric: true } },
      (m: ReturnType<typeof loadModel>) =>
        (m.graph.nodes.find((n) => n.opType === 'MatMulNBits')?.inputs[5] ?? '') !== '',
    ],
    [{ pass: 'int8-weights' }, (m: ReturnType<typeof loadModel>) => m.graph.nodes.some((n) => n.opType === 'Add')],
  ] as const) {
    const plain = await compressModel(bytes, [quant], { calib });
    const bc = await compressModel(bytes, [quant, { pass: 'bias-correction' }], { calib });
    t.ok(check(loadModel(bc.bytes)), `${quant.pass}: bias added where the layout takes it`);
    const [a, b] = [fidelity(ref, await outputs(plain.bytes, held)), fidelity(ref, await outputs(bc.bytes, held))];
    t.ok(
      b.mse < a.mse,
      `${quant.pass}: MSE ${a.mse.toExponential(3)} → ${b.mse.toExponential(3)} on other seeded inputs`,
    );
  }
});

t.test('preconditions: no calibration, float model, already-quantized input — refused, graph untouched', async (t) => {
  const bytes = zoo('mnist-mlp');
  const calib = loadDataSource('mnist:32', modelInputsOf(loadModel(bytes)), { defaultSplit: 'calib' });
  let err: unknown;
  try {
    await compressModel(bytes, 'int4-weights-bc');
  } catch (e: unknown) {
    err = e;
  }
  t.ok(
    isEdgefleetError(err) &&
      err.code === 'EF_ERR_COMPRESS_FAILED' &&
      /bias-correction: .*calibration data/.test(err.message),
    'no --calib: the run fails saying calibration data is needed',
  );

  const runner = createOrtCalibrationRunner(calib);
  const refuse = async (input: Uint8Array, why: RegExp, label: string): Promise<void> => {
    const model = loadModel(input);
    const r = await runPipeline(model, [passFor({ pass: 'bias-correction' })], { calibration: runner });
    t.equal(r.ok, false, `${label}: refused`);
    t.match(r.reports[0]?.summary ?? '', why, `${label}: says why`);
    t.same(writeModel(model), writeModel(loadModel(input)), `${label}: graph untouched`);
  };
  await refuse(bytes, /not quantized/, 'float model');
  const quantized = (await compressModel(bytes, 'int4-weights')).bytes;
  await refuse(quantized, /no float reference/, 'already-quantized input');
});

t.test('joint mode (one measurement run) also lowers the error; sequential at least as much', async (t) => {
  const bytes = zoo('mnist-mlp');
  const inputs = modelInputsOf(loadModel(bytes));
  const calib = loadDataSource('mnist:256', inputs, { defaultSplit: 'calib' });
  const test = loadDataSource('mnist:test', inputs, { defaultSplit: 'test' });
  const ref = await outputs(bytes, test);
  const q = { pass: 'int4-weights', options: { blockSize: 128 } };
  const mse = async (steps: unknown[]): Promise<number> =>
    fidelity(ref, await outputs((await compressModel(bytes, steps, { calib })).bytes, test)).mse;
  const [plain, joint, seq] = [
    await mse([q]),
    await mse([q, { pass: 'bias-correction', options: { mode: 'joint' } }]),
    await mse([q, { pass: 'bias-correction' }]),
  ];
  t.ok(joint < plain, `joint: MSE ${plain.toExponential(3)} → ${joint.toExponential(3)}`);
  t.ok(seq <= joint, `sequential ${seq.toExponential(3)} ≤ joint ${joint.toExponential(3)}`);
});
