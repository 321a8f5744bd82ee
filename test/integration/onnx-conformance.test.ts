/**
 * ONNX backend conformance through the IR: every node test of ONNX's own test data (Debian
 * package libonnx-testdata, installed by .ci/run) that onnxruntime runs must also run after a
 * round trip through `edgefleet convert` (loadModel → writeModel), with outputs matching the
 * test's expected outputs within ONNX's default tolerance. Tests onnxruntime itself cannot load,
 * run or get right, and interfaces Node cannot drive, are listed as exceptions with their reason.
 * One onnxruntime session per model in the common case; the original model is opened only to
 * decide, after a failure, whether the IR or onnxruntime is at fault.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { hasSubgraphs, loadModel, writeModel, type Model } from '@edgefleet/compress/ir/index';
import { createOrtSession, type OrtSession } from '@edgefleet/compress/runtime/ort';
import { dataSetsOf, interfaceProblem, runDataSet, toFeed } from '../helpers/onnx-backend.js';

const ROOT = process.env.ONNX_TESTDATA_DIR ?? '/usr/share/libonnx-testdata/data/node';

async function open(bytes: Uint8Array): Promise<OrtSession | string> {
  try {
    return await createOrtSession(bytes);
  } catch (err: unknown) {
    return err instanceof Error ? err.message.replace('onnxruntime could not load the model: ', '') : String(err);
  }
}

type Outcome = { kind: 'pass' } | { kind: 'exception' | 'failure'; reason: string };

/** Why the original model does not pass in onnxruntime itself, or undefined when it does. */
async function originalProblem(bytes: Uint8Array, model: Model, dir: string): Promise<string | undefined> {
  const s = await open(bytes);
  if (typeof s === 'string') return `onnxruntime cannot load it: ${s.slice(0, 160)}`;
  try {
    for (const set of dataSetsOf(dir)) {
      const why = await runDataSet(s, model, set);
      if (why) return `onnxruntime's own result: ${why.slice(0, 160)}`;
    }
    return undefined;
  } finally {
    await s.release();
  }
}

async function check(dir: string): Promise<Outcome> {
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  let converted: Uint8Array;
  let model: Model;
  try {
    model = loadModel(bytes);
    converted = writeModel(model);
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    const ort = await originalProblem(bytes, loadModel(bytes, { verify: false }), dir).catch(() => 'unreadable');
    return ort ? { kind: 'exception', reason: ort } : { kind: 'failure', reason: `the IR refuses it: ${why}` };
  }
  const iface = interfaceProblem(model);
  if (iface) return { kind: 'exception', reason: iface };
  const s = await open(converted);
  let why: string | undefined;
  if (typeof s === 'string') why = `converted model does not load: ${s}`;
  else {
    try {
      for (const set of dataSetsOf(dir)) {
        why = await runDataSet(s, model, set);
        if (why) break;
      }
    } finally {
      await s.release();
    }
  }
  if (!why) return { kind: 'pass' };
  const ort = await originalProblem(bytes, model, dir);
  return ort ? { kind: 'exception', reason: ort } : { kind: 'failure', reason: why };
}

const skip = existsSync(ROOT)
  ? false
  : `no ONNX backend test data at ${ROOT}: apt-get install -y libonnx-testdata (.ci/run does), or set ` +
    `ONNX_TESTDATA_DIR`;

t.test('ONNX node tests round-trip through the IR with expected outputs', { timeout: 600_000, skip }, async (t) => {
  const dirs = readdirSync(ROOT)
    .filter((d) => existsSync(join(ROOT, d, 'model.onnx')))
    .sort();
  const passed: string[] = [];
  const exceptions: Array<[string, string]> = [];
  const failures: Array<[string, string]> = [];
  for (const d of dirs) {
    const o = await check(join(ROOT, d));
    if (o.kind === 'pass') passed.push(d);
    else (o.kind === 'exception' ? exceptions : failures).push([d, o.reason]);
  }
  t.comment(
    `${dirs.length} node tests: ${passed.length} round-trip through the IR with the expected outputs, ` +
      `${exceptions.length} exceptions, ${failures.length} failures`,
  );
  for (const [d, why] of exceptions) t.comment(`exception ${d}: ${why}`);
  for (const [d, why] of failures) t.comment(`FAILURE ${d}: ${why}`);
  t.same(failures, [], 'every test onnxruntime runs also runs, with the expected outputs, after the round trip');
  // A floor under the count measured when this test was written, so a harness bug that skips everything fails.
  t.ok(passed.length >= 700, `${passed.length} of ${dirs.length} node tests pass through the IR (floor 700)`);
});

/** Every output of one run as raw bytes, by name. */
async function rawOutputs(bytes: Uint8Array, model: Model, dir: string): Promise<Map<string, Buffer> | string> {
  const s = await open(bytes);
  if (typeof s === 'string') return s;
  try {
    const set = dataSetsOf(dir)[0];
    if (!set) return 'no data set';
    const real = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
    const feeds = Object.fromEntries(set.inputs.map((x, i) => [real[i]?.name ?? '', toFeed(x)]));
    const out = await s.run(feeds);
    return new Map(
      Object.entries(out).map(([k, v]) => [
        k,
        v.dtype === 'string'
          ? Buffer.from(v.data.join('\u0000'))
          : Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength),
      ]),
    );
  } catch (err: unknown) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await s.release();
  }
}

t.test(
  'If, Loop and Scan models round-trip bit-exactly (outputs byte-identical to the original)',
  { skip },
  async (t) => {
    const dirs = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, 'model.onnx')));
    let checked = 0;
    for (const d of dirs.sort()) {
      const dir = join(ROOT, d);
      const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
      let model: Model;
      try {
        model = loadModel(bytes);
      } catch {
        continue; // covered (as an exception or failure) by the test above
      }
      if (!hasSubgraphs(model.graph) || interfaceProblem(model)) continue;
      const want = await rawOutputs(bytes, model, dir);
      if (typeof want === 'string') continue; // onnxruntime does not run the original
      const got = await rawOutputs(writeModel(model), model, dir);
      t.ok(
        typeof got !== 'string' && [...want].every(([k, v]) => got.get(k)?.equals(v)),
        `${d}: ${typeof got === 'string' ? got : 'byte-identical outputs'}`,
      );
      checked++;
    }
    t.ok(checked >= 5, `${checked} node tests with subgraphs compared byte for byte`);
  },
);
