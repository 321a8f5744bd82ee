/**
 * Search jobs through the admin API on a real server (store, planner building variants in worker
 * threads): `POST /v1/searches` answers 202 at once, the job runs, its finalist becomes a variant
 * of the model for that class (evaluated like every variant) and a new plan of the class lists
 * it among its candidates. The runner here stands in for the search (it writes int8-static of
 * the model as its "finalist", a real ONNX file): this test checks the job, storage and planning
 * plumbing; `edgefleet search` (test/integration/search-cli.test.ts) runs real searches.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compressModel } from '@edgefleet/compress';
import { loadDataSource, modelInputsOf } from '@edgefleet/compress';
import { loadModel } from '@edgefleet/compress/ir/index';
import type { SearchRunner } from '@edgefleet/server/plan/search-jobs';
import { createWorkerSearchRunner } from '@edgefleet/server/plan/search-runner';
import { startApi } from '../helpers/api.js';

t.setTimeout(300_000);
const CNN = readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url));

const standIn: SearchRunner = async (input, onProgress) => {
  onProgress({ evaluations: 1, maxEvaluations: input.request.evaluations, visited: 3, frontSize: 1 });
  const calib = loadDataSource('mnist:calib:256', modelInputsOf(loadModel(CNN)));
  const out = await compressModel(readFileSync(input.modelPath), 'int8-static', { calib });
  mkdirSync(input.outDir, { recursive: true });
  const path = join(input.outDir, 'finalist.onnx');
  writeFileSync(path, out.bytes);
  return {
    evaluations: 1,
    visited: 3,
    stopped: 'evaluations',
    timedOut: false,
    front: [{ key: '0.0.0', family: 'pruned', accuracyPct: 97.5, bytes: out.bytes.length, deviceP95Ms: 0.2 }],
    finalist: {
      path,
      accuracyPct: 97.5,
      deviceP95Ms: 0.2,
      precision: 'int8',
      violation: 0,
      hostRatio: null,
      cut: null,
    },
  };
};

t.test('a search job: 202, runs, its finalist is a variant and a candidate of the new plan', async (t) => {
  const api = await startApi(t, { 'control.enabled': false }, { searchRunner: standIn });
  const up = await api.call('POST', '/v1/models?name=cnn&eval=mnist', api.admin, CNN, {
    'content-type': 'application/octet-stream',
  });
  t.equal(up.status, 201, JSON.stringify(up.body));
  t.equal((await api.call('POST', '/v1/classes', api.admin, { profile: 'rpi4' })).status, 201);
  const res = await api.call('POST', '/v1/searches', api.admin, { model: 'cnn', class: 'rpi4', evaluations: 4 });
  t.equal(res.status, 202);
  t.equal(res.body.state, 'queued');
  const id = String(res.body.id);
  t.match(id, /^s-[0-9a-f]{12}$/);
  const same = await api.call('POST', '/v1/searches', api.admin, { model: 'cnn', class: 'rpi4', evaluations: 4 });
  t.equal(same.body.id, id, 'the same request is the same search (it would resume the same candidate file)');
  let status = (await api.call('GET', `/v1/searches/${id}`, api.reader)).body;
  for (let i = 0; i < 3000 && (status.state === 'queued' || status.state === 'running'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await api.call('GET', `/v1/searches/${id}`, api.reader)).body;
  }
  t.equal(status.state, 'done', JSON.stringify(status.error));
  const result = status.result as { finalist: { artifactSha: string; planId: number; bytes: number } };
  t.ok(result.finalist.bytes < CNN.length / 3, 'the finalist is stored with its bytes');
  t.match(status.result, { timedOut: false, finalist: { cut: null } }, 'trained in full, within its time');
  const plan = await api.call('GET', `/v1/plans/${result.finalist.planId}`, api.reader);
  t.equal(plan.status, 200);
  const candidates = (plan.body.plan as { candidates: { recipe: string; artifactSha: string | null }[] }).candidates;
  const searched = candidates.find((c) => c.recipe === `searched-${id}`);
  t.ok(searched, `the plan lists the search's finalist among ${candidates.map((c) => c.recipe).join(', ')}`);
  t.equal(searched?.artifactSha, result.finalist.artifactSha);
  const list = await api.call('GET', '/v1/searches', api.reader);
  t.equal((list.body.searches as unknown[]).length, 1);
  api.expectError(t, await api.call('GET', '/v1/searches/s-000000000000', api.reader), 'EF_ERR_SEARCH_NOT_FOUND');
  api.expectError(
    t,
    await api.call('POST', '/v1/searches', api.admin, { model: 'nope', class: 'rpi4' }),
    'EF_ERR_MODEL_NOT_FOUND',
  );
  api.expectError(
    t,
    await api.call('POST', '/v1/searches', api.admin, { model: 'cnn', class: 'rpi4', evaluations: 0 }),
    'EF_ERR_API_VALIDATION',
  );
  t.equal((await api.call('POST', '/v1/searches', api.reader, { model: 'cnn', class: 'rpi4' })).status, 403);
});

t.test(
  "the server's default runner (a worker thread) refuses what it cannot search, and the job says why",
  async (t) => {
    const api = await startApi(t, { 'control.enabled': false });
    const up = await api.call('POST', '/v1/models?name=cnn&eval=random:16', api.admin, CNN, {
      'content-type': 'application/octet-stream',
    });
    t.equal(up.status, 201, JSON.stringify(up.body));
    t.equal((await api.call('POST', '/v1/classes', api.admin, { profile: 'rpi4' })).status, 201);
    const res = await api.call('POST', '/v1/searches', api.admin, { model: 'cnn', class: 'rpi4', evaluations: 1 });
    t.equal(res.status, 202);
    let status = res.body;
    for (let i = 0; i < 3000 && (status.state === 'queued' || status.state === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await api.call('GET', `/v1/searches/${String(res.body.id)}`, api.reader)).body;
    }
    t.equal(status.state, 'failed');
    t.match(status.error, { code: 'EF_ERR_SEARCH_OPTIONS', message: /searches train on MNIST.*random:16/ });
  },
);

/** Polls a search until it has ended. */
async function ended(api: Awaited<ReturnType<typeof startApi>>, id: string) {
  let status = (await api.call('GET', `/v1/searches/${id}`, api.reader)).body;
  for (let i = 0; i < 3000 && (status.state === 'queued' || status.state === 'running'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = (await api.call('GET', `/v1/searches/${id}`, api.reader)).body;
  }
  return status;
}

async function apiWithCnn(t: Test, searchRunner: SearchRunner) {
  const api = await startApi(t, { 'control.enabled': false }, { searchRunner });
  const up = await api.call('POST', '/v1/models?name=cnn&eval=mnist', api.admin, CNN, {
    'content-type': 'application/octet-stream',
  });
  t.equal(up.status, 201, JSON.stringify(up.body));
  t.equal((await api.call('POST', '/v1/classes', api.admin, { profile: 'rpi4' })).status, 201);
  return api;
}

t.test(
  'a search stuck past its time budget and the grace is terminated: failed, counted, nothing stored',
  async (t) => {
    const hanging = createWorkerSearchRunner({
      graceMs: () => 100,
      workerUrl: new URL('../fixtures/hanging-search-worker.ts', import.meta.url),
    });
    const api = await apiWithCnn(t, hanging);
    const res = await api.call('POST', '/v1/searches', api.admin, { model: 'cnn', class: 'rpi4', timeBudgetMs: 200 });
    t.equal(res.status, 202);
    const status = await ended(api, String(res.body.id));
    t.equal(status.state, 'failed', 'the job ended');
    t.match(status.error, { code: 'EF_ERR_SEARCH_TIMEOUT', message: /past its time budget of 0 s .*terminated/ });
    const plans = await api.call('GET', '/v1/plans?class=rpi4', api.reader);
    t.same(plans.body.plans, [], 'no variant or plan was stored');
    const text = (await api.call('GET', '/metrics', api.reader)).body.text as string;
    t.match(text, /edgefleet_search_jobs_total\{result="timeout"\} 1/, 'counted as timed out');
    t.match(text, /edgefleet_search_jobs_total\{result="failed"\} 1/, 'and as failed');
  },
);

t.test('the time budget ran out before any finalist was trained: the job fails and says why', async (t) => {
  const outOfTime: SearchRunner = async () => ({
    evaluations: 2,
    visited: 2,
    stopped: 'time',
    timedOut: true,
    front: [],
    finalist: null,
  });
  const api = await apiWithCnn(t, outOfTime);
  const body = { model: 'cnn', class: 'rpi4', timeBudgetMs: 60_000 };
  const status = await ended(api, String((await api.call('POST', '/v1/searches', api.admin, body)).body.id));
  t.equal(status.state, 'failed');
  t.match(status.error, {
    code: 'EF_ERR_SEARCH_TIMEOUT',
    message: /time budget of 60 s ran out before a finalist was trained \(2 candidates built, stopped by time\)/,
  });
});
