import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/run-cli.js';
import { parseAssignments } from '@edgefleet/cli/commands/class';

const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');

const run = runCli;

t.test('edgefleet class, model and plan against a data directory', async (t) => {
  const dir = t.testdir();
  const d = ['--data-dir', dir];
  t.equal((await run(['class', 'create', 'pis', '--profile', 'rpi4', ...d])).code, 0);
  t.equal(
    (await run(['class', 'create', 'tiny', '--profile', 'mcu-gateway', '--budget', 'maxModelBytes=200000', ...d])).code,
    0,
  );
  const neg = await run(['class', 'create', 'bad', '--profile', 'rpi4', '--budget', 'maxP95LatencyMs=-3', ...d]);
  t.equal(neg.code, 1);
  // The server's API validates the request before the class service sees it.
  t.match(neg.err, /EF_ERR_API_VALIDATION[\s\S]*latency cannot be negative/);
  const none = await run(['class', 'create', 'x', ...d]);
  t.match(none.err, /give --profile/);
  const list = await run(['class', 'list', ...d]);
  t.match(list.out, /pis\s+1\s+fp32,int8,int4/);
  t.match(list.out, /tiny\s+1\s+int8\s+builtin-1\s+maxModelBytes=200000/);
  const shown = JSON.parse((await run(['class', 'show', 'pis', '--json', ...d])).out) as {
    speedModel: { factors: Record<string, number> };
  };
  t.equal(shown.speedModel.factors.fp32, 12.5);
  t.match((await run(['class', 'show', 'pis', ...d])).out, /source speedModel.factors.fp32: .*opencv_zoo/);

  const added = await run(['model', 'add', MLP, '--name', 'mlp', ...d]);
  t.match(added.out, /added model mlp/);
  t.match((await run(['model', 'add', MLP, '--name', 'mlp', ...d])).out, /nothing changed/);
  t.match((await run(['model', 'list', ...d])).out, /mlp\s+4c4eedf5/);

  const svg = join(dir, 'plan.svg');
  const planned = await run(['plan', 'mlp', '--all-classes', '--recipes', 'int8-dynamic', '--svg', svg, ...d]);
  t.equal(planned.code, 0, planned.err);
  t.match(planned.out, /on class pis v1/);
  t.match(planned.out, /NO FEASIBLE VARIANT; closest: int8-dynamic/, 'the 200 kB budget cannot be met by the int8 MLP');
  t.match(planned.out, /maxModelBytes \+38860bytes/);
  t.match(planned.err, /compressing and evaluating/, 'progress on stderr');
  t.match(readFileSync(join(dir, 'plan-pis.svg'), 'utf8'), /max p95 50 ms/);
  t.match(readFileSync(join(dir, 'plan-tiny.svg'), 'utf8'), /int8-dynamic \(chosen\)/);

  const json = await run(['plan', 'mlp', '--class', 'pis', '--recipes', 'int8-dynamic', '--json', ...d]);
  const plans = JSON.parse(json.out) as Array<{ reused: boolean; plan: { front: string[]; chosen: string } }>;
  t.equal(plans[0]?.reused, true, 'same inputs: the stored plan');
  t.ok(plans[0]?.plan.front.length);

  const upd = await run(['class', 'update', 'tiny', '--budget', 'maxModelBytes=1000000', '--speed', 'int8=100', ...d]);
  t.match(upd.out, /version 2; its earlier plans are invalidated/);
  const again = await run(['plan', 'mlp', '--class', 'tiny', '--recipes', 'int8-dynamic', ...d]);
  t.match(again.out, /speed model builtin-1\+edit2/);
  t.match(again.out, /0 compressions this run/, 'variants are cached across processes');
  t.notMatch(again.out, /same inputs as before/);

  t.equal((await run(['plan', 'mlp', ...d])).code, 2, 'neither --class nor --all-classes: a usage error');
  t.match((await run(['plan', 'nope', '--class', 'pis', ...d])).err, /EF_ERR_MODEL_NOT_FOUND/);
  t.equal((await run(['class', 'delete', 'tiny', ...d])).code, 0);
  t.match((await run(['class', 'show', 'tiny', ...d])).err, /EF_ERR_CLASS_NOT_FOUND/);
});

t.test('budget assignments are NAME=NUMBER', async (t) => {
  t.same(parseAssignments(['maxP95LatencyMs=20', 'maxModelBytes=1e6'], '--budget'), {
    maxP95LatencyMs: 20,
    maxModelBytes: 1_000_000,
  });
  t.throws(() => parseAssignments(['maxP95LatencyMs'], '--budget'), { code: 'EF_ERR_CLI_USAGE' });
  t.throws(() => parseAssignments(['int8=fast'], '--speed'), /int8=3.5/);
});
