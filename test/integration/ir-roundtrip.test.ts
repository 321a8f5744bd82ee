import { existsSync, readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { loadModel, sha256Hex, writeModel } from '@edgefleet/compress/ir/index';
import { createOrtSession, type RuntimeTensor } from '@edgefleet/compress/runtime/ort';
import {
  TYPED_FIELD_CASES,
  buildCnn,
  buildIf,
  buildMlp,
  buildTypedFieldsBytes,
  paddleOcrPaths,
  seededFloats,
} from '../fixtures/ir-models.js';

type Feeds = Record<string, RuntimeTensor>;

/** Run a model once on the given feeds; outputs as raw bytes per name (byte-exact comparison). */
async function runBytes(
  model: Uint8Array,
  feeds: Feeds,
): Promise<Map<string, { dims: readonly number[]; bytes: Buffer }>> {
  const session = await createOrtSession(model, { intraOpNumThreads: 1 });
  try {
    const out = await session.run(feeds);
    const result = new Map<string, { dims: readonly number[]; bytes: Buffer }>();
    for (const [name, tensor] of Object.entries(out)) {
      if (tensor.dtype === 'string') throw new Error('no string outputs expected');
      result.set(name, {
        dims: tensor.dims,
        bytes: Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength),
      });
    }
    return result;
  } finally {
    await session.release();
  }
}

/** load → write → load of `original`: outputs identical to the original's, and the rewrite is a fixed point. */
async function checkRoundTrip(t: Test, label: string, original: Uint8Array, feedSets: readonly Feeds[]): Promise<void> {
  const rewritten = writeModel(loadModel(original));
  const again = writeModel(loadModel(rewritten));
  t.equal(sha256Hex(again), sha256Hex(rewritten), `${label}: rewriting the rewrite gives the same sha256`);
  for (const [i, feeds] of feedSets.entries()) {
    const want = await runBytes(original, feeds);
    const got = await runBytes(again, feeds);
    t.same([...got.keys()], [...want.keys()], `${label}#${i}: same outputs`);
    for (const [name, w] of want) {
      const g = got.get(name);
      t.same(g?.dims, w.dims, `${label}#${i} ${name}: dims`);
      t.ok(g?.bytes.equals(w.bytes), `${label}#${i} ${name}: byte-identical (${w.bytes.byteLength} bytes)`);
    }
  }
}

const floatFeed = (name: string, dims: number[], seed: number): Feeds => ({
  [name]: {
    dtype: 'float32',
    dims,
    data: seededFloats(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
  },
});

t.test('PaddleOCR det, rec and cls round-trip with byte-identical outputs', async (t) => {
  const paths = paddleOcrPaths();
  // Declared inputs are x[N,3,H,W] (rec fixes H=48); small fixed shapes keep the test quick.
  const cases: Array<[string, string, number[]]> = [
    ['det', paths.det, [1, 3, 64, 64]],
    ['rec', paths.rec, [1, 3, 48, 96]],
    ['cls', paths.cls, [1, 3, 48, 192]],
  ];
  for (const [label, path, dims] of cases) {
    const bytes = new Uint8Array(readFileSync(path));
    const session = await createOrtSession(bytes);
    t.same(
      session.inputs.map((i) => [i.name, i.dtype, i.shape.length]),
      [['x', 'float32', 4]],
      `${label}: declared input as expected`,
    );
    await session.release();
    await checkRoundTrip(t, label, bytes, [floatFeed('x', dims, 11), floatFeed('x', dims, 12)]);
  }
});

t.test('models built with the IR round-trip and run', async (t) => {
  await checkRoundTrip(t, 'mlp', writeModel(buildMlp()), [floatFeed('x', [5, 16], 1), floatFeed('x', [1, 16], 2)]);
  await checkRoundTrip(t, 'cnn', writeModel(buildCnn()), [floatFeed('x', [3, 1, 8, 8], 3)]);
  const ifFeeds = (cond: boolean): Feeds => ({
    cond: { dtype: 'bool', dims: [], data: Uint8Array.of(cond ? 1 : 0) },
    ...floatFeed('x', [2, 3], 4),
  });
  await checkRoundTrip(t, 'if', writeModel(buildIf()), [ifFeeds(true), ifFeeds(false)]);
  // The If really evaluates its subgraphs: x + c versus x * c.
  const x = seededFloats(6, 4);
  const c = [1, 2, 3, 4, 5, 6];
  const yes = await runBytes(writeModel(buildIf()), ifFeeds(true));
  const no = await runBytes(writeModel(buildIf()), ifFeeds(false));
  const asFloats = (b: Buffer | undefined): number[] =>
    b ? Array.from(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)) : [];
  t.same(
    asFloats(yes.get('y')?.bytes),
    Array.from(x, (v, i) => Math.fround(v + (c[i] ?? 0))),
  );
  t.same(
    asFloats(no.get('y')?.bytes),
    Array.from(x, (v, i) => Math.fround(v * (c[i] ?? 0))),
  );
});

t.test('typed-field initializers give the same runtime values after rewriting as raw_data', async (t) => {
  const bytes = buildTypedFieldsBytes();
  await checkRoundTrip(t, 'typed-fields', bytes, [{}]);
  const session = await createOrtSession(writeModel(loadModel(bytes)));
  const out = await session.run({});
  await session.release();
  for (const c of TYPED_FIELD_CASES) {
    const got = out[`out_${c.dtype}`];
    t.equal(got?.dtype, c.dtype === 'float16' ? 'float16' : c.dtype, `${c.dtype}: runtime type`);
    const values = got ? Array.from(got.data as ArrayLike<number | bigint>) : [];
    const want = c.dtype === 'float32' ? Array.from(Float32Array.from(c.expect as number[])) : [...c.expect];
    t.same(
      values.map((v) => (typeof v === 'boolean' ? Number(v) : v)),
      want,
      `${c.dtype}: values`,
    );
  }
});

t.test('zoo models round-trip (when present in models/zoo)', async (t) => {
  const zoo: Array<[string, string, number[]]> = [
    ['mnist-mlp', 'models/zoo/mnist-mlp.onnx', [4, 784]],
    ['mnist-cnn', 'models/zoo/mnist-cnn.onnx', [4, 1, 28, 28]],
  ];
  const present = zoo.filter(([, path]) => existsSync(path));
  if (present.length === 0) t.comment('no zoo models yet; run `npm run zoo`');
  for (const [label, path, dims] of present) {
    const bytes = new Uint8Array(readFileSync(path));
    const session = await createOrtSession(bytes);
    const input = session.inputs[0]?.name ?? 'input';
    await session.release();
    // Pixels live in [0, 1].
    const pixels = seededFloats(
      dims.reduce((a, b) => a * b, 1),
      21,
    ).map((v) => (v + 1) / 2);
    await checkRoundTrip(t, label, bytes, [{ [input]: { dtype: 'float32', dims, data: pixels } }]);
  }
});
