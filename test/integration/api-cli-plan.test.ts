/**
 * CLI class, model and plan commands through the admin API (`--api URL --token T`): tables,
 * --json and --svg from the returned plan, refusals with advice; and rollout progress on the
 * fleet event bus and its SSE stream (`GET /v1/events`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { FleetEventEnvelope, Hello } from '@edgefleet/shared';
import { buildClassifier, goldenFor } from '../fixtures/deploy-models.js';
import { makeAuthServer } from '../helpers/auth.js';
import { runCli as run } from '../helpers/run-cli.js';

const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');

const hello = (deviceId: string, deviceClass: string): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass,
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

async function startServer(t: Test): Promise<{
  server: ReturnType<typeof makeAuthServer>;
  dir: string;
  apiUrl: string;
  admin: string[];
  reader: string[];
}> {
  // One testdir per test (a second call replaces the first): the server's data directory holds the test's files too.
  const dir = t.testdir();
  const server = makeAuthServer(dir);
  t.teardown(() => server.stop());
  const { apiUrl } = await server.start();
  const flags = async (scope: 'admin' | 'read'): Promise<string[]> => [
    '--api',
    apiUrl!,
    '--token',
    (await server.auth().createAdminToken(`cli-${scope}`, scope)).token,
  ];
  return { server, dir, apiUrl: apiUrl!, admin: await flags('admin'), reader: await flags('read') };
}

t.test('class, model and plan over the API', async (t) => {
  const { dir, admin, reader } = await startServer(t);

  const refused = await run(['class', 'create', 'pis', '--profile', 'rpi4', ...reader]);
  t.not(refused.code, 0, 'a read token cannot create a class');
  t.match(refused.err, /admin-scope token/);
  const created = await run([
    'class',
    'create',
    'pis',
    '--profile',
    'rpi4',
    '--budget',
    'maxP95LatencyMs=50',
    ...admin,
  ]);
  t.equal(created.code, 0, created.err);
  t.match(created.out, /created class pis \(version 1\)/);
  const dup = await run(['class', 'create', 'pis', '--profile', 'rpi4', ...admin]);
  t.match(dup.err, /EF_ERR_CLASS_EXISTS/);
  t.match((await run(['class', 'list', ...reader])).out, /pis\s+1\s+fp32,int8,int4/);
  const listed = JSON.parse((await run(['class', 'list', '--json', ...reader])).out) as {
    classes: Array<{ name: string }>;
  };
  t.same(
    listed.classes.map((c) => c.name),
    ['pis'],
  );
  const shown = JSON.parse((await run(['class', 'show', 'pis', '--json', ...reader])).out) as {
    speedModel: { factors: Record<string, number> };
    budgets: Record<string, number>;
  };
  t.equal(shown.speedModel.factors['fp32'], 12.5);
  t.equal(shown.budgets['maxP95LatencyMs'], 50);
  t.match((await run(['class', 'show', 'nope', ...reader])).err, /EF_ERR_CLASS_NOT_FOUND/);
  const updated = await run(['class', 'update', 'pis', '--speed', 'int8=3.5', '--json', ...admin]);
  t.equal(updated.code, 0, updated.err);
  t.match(
    JSON.parse(updated.out),
    { version: 2, speedModel: { factors: { int8: 3.5, fp32: 12.5 } }, budgets: { maxP95LatencyMs: 50 } },
    'a speed change keeps the budgets',
  );
  t.equal((await run(['class', 'create', 'gone', '--profile', 'rpi4', ...admin])).code, 0);
  t.match((await run(['class', 'delete', 'gone', ...admin])).out, /deleted class gone/);
  t.match((await run(['class', 'show', 'gone', ...reader])).err, /EF_ERR_CLASS_NOT_FOUND/);

  // One implementation now: --shape travels with the upload, as it did on a data directory.
  const added = await run(['model', 'add', MLP, '--name', 'mlp', '--shape', 'x=1,784', ...admin]);
  t.equal(added.code, 0, added.err);
  t.match(added.out, /added model mlp \(sha256 4c4eedf5/);
  t.match(
    (await run(['model', 'add', MLP, '--name', 'mlp', ...admin])).out,
    /nothing changed/,
    'the same bytes again change nothing',
  );
  t.match((await run(['model', 'list', ...reader])).out, /mlp\s+4c4eedf5\S*\s+\d+\s+mnist/);
  t.match(JSON.parse((await run(['model', 'list', '--json', ...reader])).out), [{ name: 'mlp', evalSpec: 'mnist' }]);

  // --correction travels with the request too (it used to work on a data directory only).
  const corrected = await run([
    'plan',
    'mlp',
    '--class',
    'pis',
    '--recipes',
    'int8-dynamic',
    '--correction',
    '2',
    ...admin,
  ]);
  t.equal(corrected.code, 0, corrected.err);
  t.equal(
    (await run(['plan', 'mlp', '--class', 'pis', '--correction', '0', ...admin])).code,
    2,
    'a bad ratio is a usage error',
  );
  const svg = join(dir, 'plan.svg');
  const planned = await run(['plan', 'mlp', '--class', 'pis', '--recipes', 'int8-dynamic', '--svg', svg, ...admin]);
  t.equal(planned.code, 0, planned.err);
  t.match(planned.out, /on class pis v2/);
  t.match(planned.out, /planned in .* s; \d+ compressions this run/);
  t.match(planned.err, /pis: \d+\/2 (fp32|int8-dynamic)/, "progress on stderr, from the server's events");
  t.match(readFileSync(svg, 'utf8'), /max p95 50 ms/, 'the SVG is drawn from the returned plan');
  const again = await run(['plan', 'mlp', '--all-classes', '--recipes', 'int8-dynamic', '--json', ...admin]);
  t.equal(again.code, 0, again.err);
  t.match(
    JSON.parse(again.out),
    [{ reused: true, plan: { deviceClass: { name: 'pis' } } }],
    'same inputs: the stored plan is reused',
  );
  t.match((await run(['plan', 'nomodel', '--class', 'pis', ...admin])).err, /EF_ERR_MODEL_NOT_FOUND/);
});

/** Reads the SSE stream from after `lastId` until `until` appears in it. */
function readSse(apiUrl: string, token: string, types: string, lastId: number, until: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const url = new URL(`/v1/events?types=${types}`, apiUrl);
    const req = httpRequest(
      url,
      { headers: { authorization: `Bearer ${token}`, 'last-event-id': String(lastId) } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes(until)) {
            req.destroy();
            resolve(text);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

t.test('a rollout publishes rollout events on the bus and the SSE stream', async (t) => {
  const { server, dir, apiUrl, admin } = await startServer(t);
  const first = server.events.publish({ type: 'device.online', deviceId: 'marker' }).seq;
  for (const id of ['pi-1', 'pi-2']) await server.repos().devices.upsertHello(hello(id, 'rpi4'), Date.now());
  const { sha256 } = await server.deploy().artifacts.put(buildClassifier(5));
  const golden = join(dir, 'golden.json');
  writeFileSync(golden, JSON.stringify(goldenFor(5)));
  const started = await run([
    'rollout',
    'start',
    '--class',
    'rpi4',
    '--variant',
    sha256.slice(0, 12),
    '--golden',
    golden,
    '--canary',
    '1',
    '--json',
    ...admin,
  ]);
  t.equal(started.code, 0, started.err);
  const id = (JSON.parse(started.out) as { rollout: { id: string } }).rollout.id;
  t.equal((await run(['rollout', 'abort', id, '--reason', 'events test', ...admin])).code, 0);

  const rollout = server.events
    .since(first)
    .map((e) => e.event)
    .filter((e) => e.type.startsWith('rollout.'));
  t.match(
    rollout,
    [
      { type: 'rollout.started', rolloutId: id, deviceClass: 'rpi4', devices: 2 },
      { type: 'rollout.wave', rolloutId: id, wave: 0, devices: 1 },
      // Nothing was installed yet, so the abort needs no rollback: the rollout ends at once.
      { type: 'rollout.finished', rolloutId: id, state: 'aborted' },
    ],
    'started, canary wave notified, finished (aborted): in that order',
  );

  const token = admin[3]!;
  const text = await readSse(
    apiUrl,
    token,
    'rollout.started,rollout.wave,rollout.aborted,rollout.finished',
    first,
    'event: rollout.finished',
  );
  t.match(text, /event: rollout\.started/);
  t.match(text, /event: rollout\.wave/);
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)) as FleetEventEnvelope);
  t.ok(
    data.every((e) => e.event.type.startsWith('rollout.')),
    'the type filter keeps only rollout events',
  );
  t.match(data.find((e) => e.event.type === 'rollout.started')?.event, { rolloutId: id, deviceClass: 'rpi4' });
});
