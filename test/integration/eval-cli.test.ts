import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { main } from '@edgefleet/cli/main';
import { evalResultSchema } from '@edgefleet/compress/eval/schema';

/** Run the CLI in-process, capturing what it prints. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = process.stdout.write.bind(process.stdout);
  const error = console.error;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  console.error = (...xs: unknown[]) => {
    err += `${xs.join(' ')}\n`;
  };
  try {
    const code = await main(['node', 'edgefleet', ...args]);
    return { code, out, err };
  } finally {
    process.stdout.write = write;
    console.error = error;
    process.exitCode = undefined;
  }
}

t.test('edgefleet eval prints a table and writes JSON', async (t) => {
  const json = join(t.testdir(), 'r.json');
  const r = await run([
    'eval',
    'models/zoo/mnist-mlp.onnx',
    '--data',
    'mnist:test:100',
    '--runs',
    '3',
    '--warmup',
    '1',
    '--json',
    json,
  ]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /accuracy top-1\s+\d+\.\d+% \(\d+\/100\)/);
  t.match(r.out, /latency p50\/p95/);
  const parsed = evalResultSchema.safeParse(JSON.parse(readFileSync(json, 'utf8')));
  t.ok(parsed.success, 'the JSON is a valid eval result');
  t.equal(parsed.data?.data.count, 100);
});

t.test('edgefleet eval --json - prints only JSON', async (t) => {
  const r = await run([
    'eval',
    'models/zoo/mnist-cnn.onnx',
    '--data',
    'random:2x1x28x28',
    '--no-latency',
    '--json',
    '-',
  ]);
  t.equal(r.code, 0, r.err);
  const parsed = evalResultSchema.parse(JSON.parse(r.out));
  t.equal(parsed.latency, null);
  t.equal(parsed.accuracy, null);
});

t.test('edgefleet eval explains bad data and bad flags', async (t) => {
  const bad = await run(['eval', 'models/zoo/mnist-cnn.onnx', '--data', 'random:4x784', '--no-latency']);
  t.equal(bad.code, 1);
  t.match(bad.err, /EF_ERR_DATA_SHAPE.*\[4,784\].*\[N,1,28,28\]/);
  const flag = await run(['eval', 'models/zoo/mnist-cnn.onnx', '--threads', '0']);
  t.equal(flag.code, 2);
});
