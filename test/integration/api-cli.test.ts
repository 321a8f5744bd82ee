/**
 * CLI admin commands through the admin API (`--api URL --token T`): rollout start, status,
 * abort and decisions against a running server, tables and --json; a read token is refused
 * for changes with a clear message.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/run-cli.js';
import type { Hello } from '@edgefleet/shared';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { makeAuthServer } from '../helpers/auth.js';
import { EMPTY_MEMORY } from '@edgefleet/server/control/index';

const run = runCli;

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

t.test('rollout and decisions commands over the API', async (t) => {
  const dataDir = t.testdir();
  const server = makeAuthServer(dataDir);
  t.teardown(() => server.stop());
  const { apiUrl } = await server.start();
  const admin = ['--api', apiUrl!, '--token', (await server.auth().createAdminToken('cli', 'admin')).token];
  const reader = ['--api', apiUrl!, '--token', (await server.auth().createAdminToken('cli-read', 'read')).token];
  for (const id of ['pi-1', 'pi-2']) await server.repos().devices.upsertHello(hello(id), Date.now());
  const { sha256 } = await server.deploy().artifacts.put(buildClassifier(3));
  const goldenFile = join(dataDir, 'golden.json');
  writeFileSync(goldenFile, JSON.stringify(goldenFor(3)));

  const refused = await run([
    'rollout',
    'start',
    '--class',
    'rpi4',
    '--variant',
    sha256.slice(0, 12),
    '--golden',
    goldenFile,
    ...reader,
  ]);
  t.not(refused.code, 0, 'a read token cannot start a rollout');
  t.match(refused.err, /admin-scope token/);

  const started = await run([
    'rollout',
    'start',
    '--class',
    'rpi4',
    '--variant',
    sha256.slice(0, 12),
    '--golden',
    goldenFile,
    '--canary',
    '1',
    '--json',
    ...admin,
  ]);
  t.equal(started.code, 0, started.err);
  const status = JSON.parse(started.out) as { rollout: { id: string; state: string } };
  t.equal(status.rollout.state, 'in-progress');
  const id = status.rollout.id;

  const shown = await run(['rollout', 'status', id, ...reader]);
  t.equal(shown.code, 0, shown.err);
  t.match(shown.out, new RegExp(`rollout ${id}  class rpi4`));
  t.match(shown.out, /WAVE\s+SIZE\s+PENDING/);
  t.match(shown.out, /pi-1/);
  const listed = await run(['rollout', 'status', ...reader]);
  t.match(listed.out, new RegExp(`${id}\\s+rpi4`));

  const aborted = await run(['rollout', 'abort', id, '--reason', 'cli test', ...admin]);
  t.equal(aborted.code, 0, aborted.err);
  t.match(aborted.out, new RegExp(`rollout ${id} aborted`));
  const again = await run(['rollout', 'abort', id, ...admin]);
  t.not(again.code, 0);
  t.match(again.err, /only a rollout in progress can be aborted/);

  const noModelFile = await run([
    'rollout',
    'start',
    '--class',
    'rpi4',
    '--model',
    goldenFile,
    '--golden',
    goldenFile,
    ...admin,
  ]);
  t.not(noModelFile.code, 0, 'a --model FILE that is not an ONNX model is refused with advice');
  t.match(noModelFile.out + noModelFile.err, /--variant/);

  await server.repos().control.record(
    {
      id: 'd1',
      deviceClass: 'rpi4',
      at: Date.now(),
      kind: 'watching',
      reason: 'p95 over budget on 2 of 2 devices',
      budgets: ['latencyP95Ms'],
      summary: {
        activeDevices: 2,
        breachingDevices: 2,
        throttledDevices: 0,
        fractions: { latencyP95Ms: 1 },
        currentRecipe: null,
        currentSha: null,
        latencyRatio: null,
        planId: null,
      },
      actions: [],
    },
    { deviceClass: 'rpi4', memory: EMPTY_MEMORY, updatedAt: Date.now() },
  );
  const decisions = await run(['decisions', 'rpi4', ...reader]);
  t.equal(decisions.code, 0, decisions.err);
  t.match(decisions.out, /watching\s+latencyP95Ms\s+-\s+p95 over budget/);
  const json = await run(['decisions', 'rpi4', '--json', ...reader]);
  t.match(JSON.parse(json.out), [{ id: 'd1', kind: 'watching' }]);
  const none = await run(['decisions', 'other', ...reader]);
  t.match(none.out, /no decisions for class other/);
});
