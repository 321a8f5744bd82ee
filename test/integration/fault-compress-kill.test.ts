/**
 * kill -9 of the server during a compression job (issue 18 fault suite). `POST /v1/plans`
 * builds variants one after another into the artifact store; the server process is killed
 * once the first variant file is written and the request has not been answered. Found: the
 * restarted server deletes the temporary file an interrupted write left (if the kill landed in
 * one), every stored artifact hashes to its name, SQLite passes integrity_check, and the same
 * plan asked again completes (convergence), reusing the variants already built.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { STORE_FILE } from '@edgefleet/server';
import { api, startServerProcess, type Proc } from '../helpers/fault-rig.js';
import { REPO_ROOT } from '../helpers/spawn-ts.js';
import { sqliteIntegrity } from '../helpers/store.js';
import { freePort } from './mosquitto-suite.js';
import { waitFor } from './presence-suite.js';

const RECIPES = ['fp16', 'int8-dynamic', 'int8-weights', 'int4-weights', 'int8-static'];

t.test('kill -9 of the server during a compression job: nothing torn, the job converges', async (t) => {
  const dataDir = t.testdir();
  const [port, apiPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${apiPort}`;
  let server: Proc = await startServerProcess(dataDir, port, apiPort);
  t.teardown(() => server.kill9());
  const model = readFileSync(join(REPO_ROOT, 'models/zoo/mnist-mlp.onnx'));
  const upload = await fetch(`${base}/v1/models?name=mlp&eval=random:32`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: model,
  });
  t.equal(upload.status, 201, 'model uploaded');
  await api(base, 'POST', '/v1/classes', { profile: 'rpi4' });
  const artifactsDir = join(dataDir, 'artifacts');
  const onnx = () => readdirSync(artifactsDir).filter((f) => f.endsWith('.onnx'));

  let answered = false;
  const planning = api(base, 'POST', '/v1/plans', { model: 'mlp', class: 'rpi4', recipes: RECIPES }).then(
    () => {
      answered = true;
    },
    () => undefined,
  );
  await waitFor(() => onnx().length >= 1 || answered, 120_000, 'the first variant written');
  await server.kill9();
  await planning;
  t.notOk(answered, 'the kill landed while the job ran (the request was never answered)');
  const leftover = readdirSync(artifactsDir).filter((f) => f.endsWith('.tmp'));
  const builtBefore = onnx().length;

  server = await startServerProcess(dataDir, port, apiPort);
  t.same(
    readdirSync(artifactsDir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file after the restart',
  );
  const plan = await api<{ plan: { candidates: Array<{ recipe: string }>; chosen: string | null } }>(
    base,
    'POST',
    '/v1/plans',
    { model: 'mlp', class: 'rpi4', recipes: RECIPES },
  );
  t.ok(plan.plan.candidates.length >= RECIPES.length, 'the same job asked again completes with every candidate');
  const torn = onnx().filter(
    (f) =>
      createHash('sha256')
        .update(readFileSync(join(artifactsDir, f)))
        .digest('hex') !== f.slice(0, 64),
  );
  t.same(torn, [], 'every artifact hashes to its name');
  t.equal(await server.stop(), 0, 'the server stops cleanly');
  const check = sqliteIntegrity(join(dataDir, STORE_FILE));
  t.equal(check, 'ok', 'SQLite integrity_check: ok');
  t.comment(
    `tried: a ${RECIPES.length}-recipe plan of mnist-mlp, the server killed (SIGKILL) after ${builtBefore} ` +
      `variant file(s) ` +
      `were written; found: ${leftover.length} temporary file(s) at the kill, 0 after the restart, ` +
      `${plan.plan.candidates.length} candidates on the second run, ${onnx().length} artifacts all intact, ` +
      `integrity ${check}`,
  );
});
