/**
 * Every admin command is an API client. On a data directory the CLI finds the server running
 * there through its runtime file (no token of its own needed), or, when none runs, starts the
 * same services in-process for the command; with neither API it says why. What needs devices
 * (a rollout, an abort) is recorded and carried out by the server once it runs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RUNTIME_FILE, openSqliteStore } from '@edgefleet/server';
import type { Hello } from '@edgefleet/shared';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { makeAuthServer } from '../helpers/auth.js';
import { createHeldClock } from '../helpers/held-clock.js';
import { runCli } from '../helpers/run-cli.js';

const hello = (deviceId: string): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass: 'rpi4',
  agentVersion: '1',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'x',
    cores: 4,
    memoryBytes: 1e9,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt: 1,
});

t.test('with no server, a command starts the services for itself and leaves the directory free', async (t) => {
  const dir = join(t.testdir(), 'fresh');
  const wrong = await runCli(['class', 'create', 'pis', '--budget', 'maxP95LatencyMs=20', '--data-dir', dir]);
  t.equal(wrong.code, 2, 'a missing flag is a usage error (exit 2)');
  t.match(wrong.err, /EF_ERR_CLI_USAGE.*give --profile/);
  t.notOk(existsSync(dir), 'refused before anything was started or created');
  const created = await runCli(['class', 'create', 'pis', '--profile', 'rpi4', '--data-dir', dir]);
  t.equal(created.code, 0, created.err);
  t.match(created.out, /created class pis \(version 1\)/);
  t.notOk(existsSync(join(dir, RUNTIME_FILE)), 'released when the command ended');
  const listed = await runCli(['class', 'list', '--data-dir', dir, '--json']);
  t.match(JSON.parse(listed.out), { classes: [{ name: 'pis' }] });
  const token = await runCli(['token', 'create', '--name', 'first', '--data-dir', dir]);
  t.match(token.out, /^efa_[0-9a-f]{12}_/, 'the first admin token is made on the host, without a token');
});

t.test('with a server running, the CLI goes through its API, with the token from its runtime file', async (t) => {
  const dir = t.testdir();
  const server = makeAuthServer(dir);
  t.teardown(() => server.stop());
  await server.start();
  const made = await runCli(['token', 'create', '--scope', 'read', '--data-dir', dir, '--json']);
  t.equal(made.code, 0, made.err);
  const { id } = JSON.parse(made.out) as { id: string };
  t.match(await server.auth().listAdminTokens(), [{ id, scope: 'read' }], 'the running server stored it');
  const classes = await runCli(['class', 'create', 'cams', '--profile', 'rpi4', '--data-dir', dir]);
  t.equal(classes.code, 0, classes.err);
  t.ok(await server.services().classes.find('cams'), 'through the server, not behind it');
  const both = await runCli(['class', 'list', '--data-dir', dir, '--api', 'http://127.0.0.1:1']);
  t.equal(both.code, 2, '--api and --data-dir together are a usage error');
  t.match(both.err, /not both/);
});

t.test('a server without its admin API is named, not written behind', async (t) => {
  const dir = t.testdir();
  const server = makeAuthServer(dir, { apiPort: -1 });
  t.teardown(() => server.stop());
  await server.start();
  const refused = await runCli(['class', 'list', '--data-dir', dir]);
  t.equal(refused.code, 1);
  t.match(refused.err, /EF_ERR_STORE_BUSY.*edgefleet server \(pid \d+.*without its admin API/);
});

t.test('a rollout and its abort recorded with no server running are carried out when it starts', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  for (const id of ['pi-1', 'pi-2']) await store.repos.devices.upsertHello(hello(id), Date.now());
  await store.close();
  const model = join(dir, 'model.onnx');
  const golden = join(dir, 'golden.json');
  writeFileSync(model, buildClassifier(5));
  writeFileSync(golden, JSON.stringify(goldenFor(5)));
  const d = ['--data-dir', dir];

  const junk = await runCli(['rollout', 'start', '--class', 'rpi4', '--model', golden, '--golden', golden, ...d]);
  t.not(junk.code, 0, 'a --model FILE that is not ONNX is refused');
  t.match(junk.err, /not an ONNX model.*--variant/);

  const started = await runCli([
    'rollout',
    'start',
    '--class',
    'rpi4',
    '--model',
    model,
    '--golden',
    golden,
    '--canary',
    '1',
    ...d,
    '--json',
  ]);
  t.equal(started.code, 0, started.err);
  const rolloutId = (JSON.parse(started.out) as { rollout: { id: string } }).rollout.id;
  const recorded = await runCli(['rollout', 'status', rolloutId, ...d, '--json']);
  t.match(JSON.parse(recorded.out), { rollout: { state: 'in-progress' }, devices: [{ state: 'pending' }, {}] });

  // The server evaluates it: the canary is notified.
  let server = makeAuthServer(dir, {}, { clock: createHeldClock() });
  await server.start();
  await server.deploy().rollouts.tick();
  t.match((await server.deploy().rollouts.status(rolloutId)).devices, [{ deviceId: 'pi-1', state: 'notified' }]);
  await server.stop();

  const aborted = await runCli(['rollout', 'abort', rolloutId, '--reason', 'wrong labels', ...d]);
  t.equal(aborted.code, 0, aborted.err);
  t.match(
    aborted.out,
    /rolling-back; no server runs on .*, so updated devices roll back when `edgefleet server` starts/,
  );

  server = makeAuthServer(dir, {}, { clock: createHeldClock() });
  t.teardown(() => server.stop());
  await server.start();
  await server.deploy().rollouts.tick();
  const done = await server.deploy().rollouts.status(rolloutId);
  t.match(done.rollout, { state: 'aborted', reason: 'wrong labels' }, 'the server carried the abort out');
  t.match(done.devices, [
    { deviceId: 'pi-1', state: 'failed', failure: { reason: 'no-previous-variant' } },
    { deviceId: 'pi-2', state: 'cancelled' },
  ]);
});
