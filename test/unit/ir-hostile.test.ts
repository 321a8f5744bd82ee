import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { EdgefleetError, isEdgefleetError } from '@edgefleet/shared';
import {
  attr,
  createGraph,
  createModel,
  loadModel,
  readModelBytes,
  tensorValueInfo,
  writeModel,
  type Graph,
} from '@edgefleet/compress/ir/index';
import { buildHostileCases, buildMlp, mutateProto, paddleOcrPaths, seeded } from '../fixtures/ir-models.js';

const CLS = paddleOcrPaths().cls;

type Outcome = 'loaded' | 'rejected';

/** Load bytes; anything but success or an EdgefleetError fails the test. */
function tryLoad(t: Test, bytes: Uint8Array, label: string): Outcome {
  try {
    const m = loadModel(bytes);
    writeModel(m); // whatever loads must also write
    return 'loaded';
  } catch (err: unknown) {
    if (err instanceof EdgefleetError) return 'rejected';
    t.fail(
      `${label}: threw a non-EdgefleetError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
    );
    return 'rejected';
  }
}

t.test('each hostile file ends in its typed error with a clear message', async (t) => {
  for (const [name, c] of Object.entries(buildHostileCases())) {
    const err = t.throws(() => loadModel(c.bytes), name) as unknown;
    t.ok(isEdgefleetError(err), `${name}: EdgefleetError`);
    if (isEdgefleetError(err)) {
      t.equal(err.code, c.code, `${name}: ${err.message}`);
      t.ok(err.message.length > 30, `${name}: message says something`);
    }
  }
});

t.test('messages say what is wrong and what to do', async (t) => {
  const cases = buildHostileCases();
  const message = (name: string): string => {
    try {
      loadModel(cases[name]?.bytes ?? new Uint8Array());
      return '';
    } catch (err: unknown) {
      return err instanceof Error ? err.message : '';
    }
  };
  t.match(message('external-data'), /external file \('weights\.bin'\).*save_as_external_data=False/);
  t.match(message('huge-shape'), /declared shape \[1048576, 1048576\] needs at least \d+ bytes/);
  t.match(
    message('size-mismatch'),
    /initializer 'w1' .*declares dims \[16, 8\] of float32 \(128 elements\) but its data holds 100/,
  );
  t.match(message('unknown-domain'), /'com\.example\.secret'.*onnxruntime does not implement/);
  t.match(message('truncated'), /not a readable ONNX protobuf/);
  t.match(message('cycle'), /has a cycle/);
});

t.test('limits: file size, tensor budget and subgraph depth', async (t) => {
  const mlp = writeModel(buildMlp());
  t.throws(() => loadModel(mlp, { maxModelBytes: 100 }), { code: 'EF_ERR_MODEL_TOO_LARGE' });
  t.throws(() => loadModel(mlp, { maxTensorBytes: 600 }), { code: 'EF_ERR_MODEL_TOO_LARGE' });
  t.ok(loadModel(mlp, { maxTensorBytes: 1000 }), 'the whole MLP fits in 1000 bytes of tensors');

  // Packed varints cost one byte each on the wire but a Long object each once decoded.
  const flood = mutateProto(mlp, (p) => {
    const first = p.graph?.initializer?.[0];
    if (first)
      Object.assign(first, {
        dims: [200_000],
        dataType: 7,
        int64Data: new Array<number>(200_000).fill(0),
        rawData: undefined,
      });
  });
  t.ok(flood.byteLength < 250_000, `flood file is small (${flood.byteLength} bytes)`);
  t.throws(() => loadModel(flood, { maxDecodeHeapBytes: 4 * 1024 * 1024 }), {
    code: 'EF_ERR_MODEL_TOO_LARGE',
    message: /typed protobuf fields .* raw_data/,
  });

  const deep = (levels: number): Uint8Array => {
    const root = createGraph({
      inputs: [tensorValueInfo('c', 'bool', [])],
      outputs: [tensorValueInfo('o0', 'bool', [])],
    });
    let g: Graph = root;
    for (let i = 0; i < levels; i++) {
      const sub = createGraph({ name: `b${i}`, outputs: [tensorValueInfo(`o${i + 1}`, 'bool', [])] }, g);
      const leaf = createGraph({ name: `e${i}`, outputs: [tensorValueInfo(`e${i}`, 'bool', [])] }, g);
      leaf.addNode({ opType: 'Identity', inputs: ['c'], outputs: [`e${i}`] });
      g.addNode({
        opType: 'If',
        inputs: ['c'],
        outputs: [`o${i}`],
        attributes: [attr.graph('then_branch', sub), attr.graph('else_branch', leaf)],
      });
      g = sub;
    }
    g.addNode({ opType: 'Identity', inputs: ['c'], outputs: [`o${levels}`] });
    return writeModel(createModel({ graph: root, opsets: { '': 13 } }));
  };
  t.ok(loadModel(deep(8)), '8 nested Ifs load');
  t.throws(() => loadModel(deep(40)), { code: 'EF_ERR_MODEL_UNSUPPORTED', message: /nested more than 32 deep/ });
});

t.test('file errors are actionable', async (t) => {
  await t.rejects(readModelBytes(`${t.testdirName}-missing.onnx`), {
    code: 'EF_ERR_MODEL_PARSE',
    message: /ENOENT.*check the path/,
  });
  const dir = t.testdir({});
  await t.rejects(readModelBytes(dir), { code: 'EF_ERR_MODEL_PARSE' });
  await t.rejects(readModelBytes(CLS, 1000), { code: 'EF_ERR_MODEL_TOO_LARGE' });
});

/** Flip `count` seeded bits of `bytes`, one flip per trial, and classify each result. */
function flipTrials(
  t: Test,
  bytes: Uint8Array,
  trials: number,
  seed: number,
  flipsPerTrial: number,
): Record<Outcome, number> {
  const rnd = seeded(seed);
  const tally: Record<Outcome, number> = { loaded: 0, rejected: 0 };
  for (let i = 0; i < trials; i++) {
    const copy = Uint8Array.from(bytes);
    for (let f = 0; f < flipsPerTrial; f++) {
      const bit = Math.floor(rnd() * copy.length * 8);
      copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    }
    tally[tryLoad(t, copy, `trial ${i}`)]++;
  }
  return tally;
}

t.test('seeded bit flips either load and verify or fail with an EdgefleetError', async (t) => {
  const small = flipTrials(t, writeModel(buildMlp()), 1500, 42, 1);
  t.ok(small.loaded > 0 && small.rejected > 0, `MLP single flips: ${JSON.stringify(small)}`);
  const multi = flipTrials(t, writeModel(buildMlp()), 500, 7, 8);
  t.ok(multi.rejected > 0, `MLP 8 flips: ${JSON.stringify(multi)}`);
  // The real model: flips land mostly in weights (harmless) but some hit structure.
  const cls = flipTrials(t, new Uint8Array(readFileSync(CLS)), 60, 3, 16);
  t.equal(cls.loaded + cls.rejected, 60, `PaddleOCR cls 16 flips: ${JSON.stringify(cls)}`);
});

t.test('random bytes and prefixes never crash the decoder', async (t) => {
  const rnd = seeded(1234);
  const tally: Record<Outcome, number> = { loaded: 0, rejected: 0 };
  for (let i = 0; i < 1000; i++) {
    const bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 256) }, () => Math.floor(rnd() * 256));
    tally[tryLoad(t, bytes, `random ${i}`)]++;
  }
  t.ok(tally.rejected > 900, `random buffers: ${JSON.stringify(tally)}`);
  const mlp = writeModel(buildMlp());
  for (let n = 0; n < mlp.length; n += 7) tryLoad(t, mlp.subarray(0, n), `prefix ${n}`);
});
