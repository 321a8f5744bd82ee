import { join } from 'node:path';
import t from 'tap';
import { openSqliteStore } from '@edgefleet/server';
import type { Hello, StoredPlan } from '@edgefleet/shared';
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

t.test('from a plan to a rollout without guessing', async (t) => {
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

  // Point 4: the class's objective, shown and used.
  const cls = await run(['class', 'create', 'pis', '--profile', 'rpi4', '--objective', 'latency', ...api]);
  t.equal(cls.code, 0, cls.err);
  t.match((await run(['class', 'show', 'pis', ...api])).out, /plan objective: latency \(lowest predicted p95 latency/);
  t.equal((await run(['model', 'add', MLP, '--name', 'mlp', ...api])).code, 0);

  // Points 3 and 5: progress per candidate, the choice by id and sha, and the next command.
  const planned = await run(['plan', 'mlp', '--class', 'pis', '--recipes', 'int8-dynamic', ...api]);
  t.equal(planned.code, 0, planned.err);
  t.match(
    planned.err,
    /pis: 1\/2 fp32 built: \d+ B, [\d.]+ %; measured host p95 [\d.]+ ms; predicted [\d.]+ ms, [\d.]+ mJ/,
  );
  t.match(planned.err, /pis: 2\/2 int8-dynamic built: /);
  t.match(planned.out, /^objective: latency \(class\): lowest predicted p95 latency/m);
  const variantLine = /^variant: (v-[\w.-]+-([0-9a-f]{8})) {2}sha256 ([0-9a-f]{64})$/m.exec(planned.out);
  t.ok(variantLine, planned.out);
  const [, variantId, sha8, sha] = variantLine as unknown as [string, string, string, string];
  t.equal(sha.slice(0, 8), sha8);
  t.match(planned.out, /roll it out: edgefleet rollout start --class pis --plan 1 --golden auto/);
  const sized = await run([
    'plan',
    'mlp',
    '--class',
    'pis',
    '--recipes',
    'int8-dynamic',
    '--objective',
    'size',
    '--json',
    ...api,
  ]);
  const [sizedPlan] = JSON.parse(sized.out) as StoredPlan[];
  t.same(sizedPlan?.plan.objective, { kind: 'size', accuracyTolerancePts: 0.5, source: 'plan' }, 'per plan');
  t.equal(sizedPlan?.id, 2, 'another objective is another plan');
  const badObjective = await run(['plan', 'mlp', '--class', 'pis', '--objective', 'cheap', ...api]);
  t.equal(badObjective.code, 2);
  t.match(badObjective.err, /--objective must be one of energy, latency, size, accuracy/);

  // Plan 1's choice rolled out by name (a bare --plan would take the newest, plan 2), with a golden set from MNIST.
  const started = await run([
    'rollout',
    'start',
    '--class',
    'pis',
    '--plan',
    '1',
    '--golden',
    'mnist:5',
    '--canary',
    '1',
    '--json',
    ...api,
  ]);
  t.equal(started.code, 0, started.err);
  t.match(started.err, new RegExp(`plan 1 chose .*: variant ${variantId} \\(sha256 ${sha}\\)`));
  t.match(started.err, /golden set: 5 rows of mnist:test; on the server's host the variant scores/);
  const status = JSON.parse(started.out) as { rollout: { id: string; variantId: string; artifactSha: string } };
  t.match(status.rollout, { variantId, artifactSha: sha });

  // Point 5: --watch follows it to its end; the devices here never answer, so an abort ends it.
  const id = status.rollout.id;
  setTimeout(() => void post(`/v1/rollouts/${id}/abort`, { reason: 'test over' }), 1_500);
  const watched = await run(['rollout', 'status', id, '--watch', '--interval', '200ms', ...api]);
  t.equal(watched.code, 1, 'an aborted rollout ends the watch with exit code 1');
  t.match(watched.err, new RegExp(`EF_ERR_DEPLOY_FAILED: rollout ${id} aborted: test over`));
  t.match(
    watched.err,
    new RegExp(`\\] rollout ${id}: in-progress, wave 1 of \\d+: 0/1 succeeded; 2 devices: pending 1, notified 1`),
  );
  t.match(watched.err, new RegExp(`\\] rollout ${id}: aborted \\(test over\\)`));
  t.match(watched.out, /pi-1\s+0\s+failed\s+\S+\s+\w+\/no-previous-variant: \S/, 'the failure with its detail');
});
