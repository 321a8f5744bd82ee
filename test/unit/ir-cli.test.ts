import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { main } from '@edgefleet/cli/main';
import { loadModel, sha256Hex, writeModel } from '@edgefleet/compress/ir/index';
import { inspectReportSchema } from '@edgefleet/compress/inspect';
import { buildHostileCases, buildMlp, paddleOcrPaths } from '../fixtures/ir-models.js';

/** Run the CLI in-process, capturing what it prints. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = process.stdout.write.bind(process.stdout);
  const error = console.error;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  console.error = (...parts: unknown[]) => {
    err += `${parts.map(String).join(' ')}\n`;
  };
  const previousExit = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'edgefleet', ...args]);
    return { code, out, err };
  } finally {
    process.stdout.write = write;
    console.error = error;
    process.exitCode = previousExit;
  }
}

t.test('inspect --json reports the PaddleOCR cls model', async (t) => {
  const { code, out } = await cli('inspect', paddleOcrPaths().cls, '--json');
  t.equal(code, 0);
  const { file, bytes: size, sha256, ...rest } = JSON.parse(out) as Record<string, unknown>;
  const json = { file, size, sha256 };
  const report = inspectReportSchema.parse(rest);
  t.equal(json.sha256, sha256Hex(readFileSync(paddleOcrPaths().cls)));
  t.equal(json.size, 578_966);
  t.same(report.inputs, [
    {
      name: 'x',
      dtype: 'float32',
      shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
    },
  ]);
  t.same(report.opsets, [{ domain: 'ai.onnx', version: 9 }]);
  t.equal(report.opHistogram[0]?.op, 'Constant', 'PaddleOCR keeps weights in Constant nodes');
  t.equal(
    report.opHistogram.reduce((s, o) => s + o.count, 0),
    report.nodeCount,
  );
  t.equal(report.largestTensors.length, 10);
  t.ok(
    report.largestTensors.every((x, i, a) => i === 0 || (a[i - 1]?.bytes ?? 0) >= x.bytes),
    'largest first',
  );
  const bytes = report.bytesByDtype.reduce((s, d) => s + d.bytes, 0);
  t.ok(bytes > 500_000 && bytes < 578_966, `weights are most of the file (${bytes} bytes)`);
  t.equal(
    report.parameterCount,
    report.bytesByDtype.reduce((s, d) => s + d.elements, 0),
  );
  t.ok(report.verification.ok);
});

t.test('inspect prints tables by default', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'mlp.onnx');
  writeFileSync(path, writeModel(buildMlp()));
  const { code, out } = await cli('inspect', path, '--top', '2');
  t.equal(code, 0);
  t.match(out, /Inputs\nNAME\s+DTYPE\s+SHAPE\n-+.*\nx\s+float32\s+\[N, 16\]/);
  t.match(out, /Parameters: 172 elements/);
  t.match(out, /Largest tensors[\s\S]*w1\s+initializer\s+float32\s+\[16, 8\]\s+512\n\S+\s+initializer/);
  t.match(out, /Verification: ok/);
});

t.test('inspect and convert on bad files print the error code and exit 1', async (t) => {
  const dir = t.testdir({});
  for (const [name, c] of Object.entries(buildHostileCases())) {
    const path = join(dir, `${name}.onnx`);
    writeFileSync(path, c.bytes);
    const inspect = await cli('inspect', path);
    // inspect shows verification problems in its report instead of refusing the file.
    if (c.code === 'EF_ERR_MODEL_INVALID' && inspect.err === '') {
      t.equal(inspect.code, 1, `${name}: inspect exits 1`);
      t.match(inspect.out, /Verification: \d+ problem/, `${name}: problems listed`);
    } else {
      t.equal(inspect.code, 1, `${name}: inspect exits 1`);
      t.match(inspect.err, new RegExp(`error ${c.code}: `), `${name}: inspect names the error`);
    }
    const convert = await cli('convert', path, '-o', join(dir, `${name}-out.onnx`));
    t.equal(convert.code, 1, `${name}: convert exits 1`);
    t.match(convert.err, new RegExp(`error ${c.code}: `), `${name}: convert names the error`);
  }
  t.notOk(
    readdirSync(dir).some((f) => f.endsWith('-out.onnx') || f.endsWith('.tmp')),
    'no output or temp file left behind',
  );
  const missing = await cli('inspect', join(dir, 'nope.onnx'));
  t.match(missing.err, /EF_ERR_MODEL_PARSE: cannot open model file .*ENOENT.*check the path/);
  t.equal((await cli('convert', join(dir, 'nope.onnx'))).code, 2, 'missing -o is a usage error');
});

t.test('convert rewrites through the IR into a new directory, verified', async (t) => {
  const dir = t.testdir({});
  const out = join(dir, 'nested', 'cls.onnx');
  const { code, out: printed } = await cli('convert', paddleOcrPaths().cls, '-o', out, '--json');
  t.equal(code, 0);
  const result = JSON.parse(printed) as { output: { sha256: string; bytes: number }; nodes: number };
  const written = readFileSync(out);
  t.equal(result.output.sha256, sha256Hex(written));
  t.equal(result.output.bytes, written.byteLength);
  t.equal(result.nodes, 471);
  t.equal(sha256Hex(writeModel(loadModel(written))), result.output.sha256, 'converting again changes nothing');
  t.same(readdirSync(join(dir, 'nested')), ['cls.onnx'], 'no temp file left');
});
