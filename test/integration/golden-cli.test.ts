/**
 * Issue 21, point 2, through the CLI against a running server (`--api`): golden sets come from
 * data (MNIST, the model's own evaluation data, a sample directory) with one limit stated in
 * images of the model at hand, the API's body limit agreeing with it; the server refuses a
 * golden set the variant cannot pass (a wrong input name, labels it does not reach) before
 * anything starts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadMnist } from '@edgefleet/compress/data/mnist';
import { writeSampleDir } from '@edgefleet/compress/data/sample-dir';
import { openSqliteStore } from '@edgefleet/server';
import type { GoldenSet, Hello, StoredPlan } from '@edgefleet/shared';
import { makeAuthServer } from '../helpers/auth.js';
import { runCli as run } from '../helpers/run-cli.js';

const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');

const hello = (deviceId: string): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass: 'pis',
  agentVersion: '1',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'x',
    cores: 4,
    memoryBytes: 1e9,
    executionProviders: ['cpu'],
    precisions: ['fp32', 'int8'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt: 1,
});

t.test('golden sets from data, one limit, refusals before the start', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  for (const id of ['pi-1', 'pi-2']) await store.repos.devices.upsertHello(hello(id), Date.now());
  await store.close();
  const server = makeAuthServer(dir);
  t.teardown(() => server.stop());
  const { apiUrl } = await server.start();
  const token = (await server.auth().createAdminToken('cli', 'admin')).token;
  const api = ['--api', apiUrl as string, '--token', token];
  const post = (path: string, body: unknown) =>
    fetch(`${apiUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  t.equal((await run(['class', 'create', 'pis', '--profile', 'rpi4', ...api])).code, 0);
  t.equal((await run(['model', 'add', MLP, '--name', 'mlp', ...api])).code, 0);
  const planned = await run(['plan', 'mlp', '--class', 'pis', '--recipes', 'int8-dynamic', '--json', ...api]);
  t.equal(planned.code, 0, planned.err);
  const [stored] = JSON.parse(planned.out) as StoredPlan[];
  const sha = stored?.plan.candidates.find((c) => c.recipe === stored.plan.chosen)?.artifactSha as string;
  const sha8 = sha.slice(0, 8);

  // Point 2: one limit, in images of this model, from data.
  const tooMany = await run(['golden', 'make', '--plan', '1', '--class', 'pis', '--from', 'mnist:32', ...api]);
  t.equal(tooMany.code, 1);
  t.match(tooMany.err, /32 rows asked; at most 31 rows \(images\) of 3,136 bytes each for this model/);
  const goldenFile = join(dir, 'golden.json');
  const made = await run([
    'golden',
    'make',
    '--plan',
    '1',
    '--class',
    'pis',
    '--from',
    'mnist:31',
    '-o',
    goldenFile,
    ...api,
  ]);
  t.equal(made.code, 0, made.err);
  t.match(
    made.err,
    /golden set: 31 rows of mnist:test; on the server's host the variant scores [\d.]+ \(\d+\/31\), so minAccuracy is/,
  );
  const golden = JSON.parse(readFileSync(goldenFile, 'utf8')) as GoldenSet;
  t.equal(golden.labels.length, 31);
  const input = Object.keys(golden.inputs)[0] as string;
  // The API's body limit and the schema agree: 31 images pass the body limit, 32 are refused by the schema, in rows.
  const tensor = golden.inputs[input] as { dims: number[]; data: string };
  const row = Buffer.from(tensor.data, 'base64').subarray(0, 3136);
  const big = {
    ...golden,
    labels: [...golden.labels, golden.labels[0]],
    inputs: {
      [input]: { dims: [32, 784], data: Buffer.concat([Buffer.from(tensor.data, 'base64'), row]).toString('base64') },
    },
  };
  const refused = await post('/v1/rollouts', { deviceClass: 'pis', variant: sha, golden: big });
  const refusal = (await refused.json()) as { code: string; message: string };
  t.equal(refused.status, 400);
  t.equal(refusal.code, 'EF_ERR_API_VALIDATION', 'not a body-size error');
  t.match(refusal.message, /32 rows, 100,352 bytes of input data; at most 31 rows \(images\) of 3,136 bytes each/);

  // Refused at once, before any device is told: a wrong input name, labels the variant cannot meet.
  const wrongName = join(dir, 'wrong-name.json');
  writeFileSync(wrongName, JSON.stringify({ ...golden, inputs: { image: tensor } }));
  const named = await run(['rollout', 'start', '--class', 'pis', '--plan', '--golden', wrongName, ...api]);
  t.equal(named.code, 1);
  t.match(
    named.err,
    new RegExp(
      `EF_ERR_ROLLOUT_INVALID: .*the model's input "${input}" \\[N, 784\\] is missing; "image" is not an input`,
    ),
  );
  const wrongLabels = join(dir, 'wrong-labels.json');
  writeFileSync(
    wrongLabels,
    JSON.stringify({ ...golden, labels: golden.labels.map((l) => (l + 1) % 10), minAccuracy: 0.5 }),
  );
  const labelled = await run(['rollout', 'start', '--class', 'pis', '--plan', '--golden', wrongLabels, ...api]);
  t.match(
    labelled.err,
    /on this host the variant scores 0\.\d+ \(\d+\/31\) on the golden set, below its minAccuracy 0\.5/,
  );
  t.match((await run(['rollout', 'status', ...api])).out, /no rollouts yet/, 'nothing was started');

  // auto: the model's registered evaluation data.
  const auto = await run(['golden', 'make', '--variant', sha8, '--from', 'auto:10', ...api]);
  t.equal(auto.code, 0, auto.err);
  t.match(auto.err, /golden set: 10 rows of mnist;/);

  // A sample directory (its one tensor feeds the model's one input whatever its name).
  const samples = join(dir, 'samples');
  writeSampleDir(samples, loadMnist({ split: 'test', limit: 5, inputName: 'pixels' }));
  const fromDir = await run(['golden', 'make', '--variant', sha, '--from', samples, '--margin', '20', ...api]);
  t.equal(fromDir.code, 0, fromDir.err);
  t.match(fromDir.err, /golden set: 5 rows of samples; .* minAccuracy is [\d.]+ \(20 pts margin\)/);
  t.equal((JSON.parse(fromDir.out) as GoldenSet).labels.length, 5);
});
