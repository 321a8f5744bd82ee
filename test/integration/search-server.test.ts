/**
 * A real search through the server: `POST /v1/searches` on mnist-cnn for rpi4 runs the search in
 * a worker thread (real candidates: pruning with reconstruction or students, a short
 * distillation, quantization; two candidates of one epoch, loose budgets so it ends with a
 * finalist), then the finalist is a variant of the model and the class's new plan lists it.
 * The host's latency table is seeded with the quick microbenchmark suite so the test does not
 * spend a minute measuring the full one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadOrMeasureLatencyTable } from '@edgefleet/compress/search/latency/index';
import { startApi } from '../helpers/api.js';

t.setTimeout(600_000);
const CNN = readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url));

t.test('POST /v1/searches runs a real search in a worker and plans its finalist', async (t) => {
  const api = await startApi(t, { 'control.enabled': false });
  const dataDir = api.server.config.dataDir;
  t.ok(dataDir);
  await loadOrMeasureLatencyTable(join(dataDir, 'searches', 'latency-table.json'), {
    quick: true,
    rounds: 2,
    runsPerRound: 5,
  });
  const up = await api.call('POST', '/v1/models?name=cnn&eval=mnist', api.admin, CNN, {
    'content-type': 'application/octet-stream',
  });
  t.equal(up.status, 201);
  t.equal((await api.call('POST', '/v1/classes', api.admin, { profile: 'rpi4' })).status, 201);
  const res = await api.call('POST', '/v1/searches', api.admin, {
    model: 'cnn',
    class: 'rpi4',
    evaluations: 2,
    epochs: 1,
    finalEpochs: 1,
    batch: 32,
    // A hard bound far from this search's length: the worker runs under it and ends by its evaluations.
    timeBudgetMs: 1_200_000,
    budgets: { maxModelBytes: 210000, maxP95LatencyMs: 1000, maxAccuracyDropPts: 5 },
  });
  t.equal(res.status, 202, JSON.stringify(res.body));
  const id = String(res.body.id);
  let status = res.body;
  let sawProgress = false;
  for (let i = 0; i < 3000 && (status.state === 'queued' || status.state === 'running'); i++) {
    await new Promise((r) => setTimeout(r, 200));
    status = (await api.call('GET', `/v1/searches/${id}`, api.reader)).body;
    if (status.progress) sawProgress = true;
  }
  t.equal(status.state, 'done', JSON.stringify(status.error));
  t.ok(sawProgress, 'progress while it ran');
  const result = status.result as {
    evaluations: number;
    finalist: { planId: number; artifactSha: string; accuracyPct: number };
  };
  t.equal(result.evaluations, 2);
  t.match(status.result, { timedOut: false, finalist: { cut: null } }, 'within its time budget, trained in full');
  t.ok(result.finalist.accuracyPct > 90);
  const plan = await api.call('GET', `/v1/plans/${result.finalist.planId}`, api.reader);
  const candidates = (plan.body.plan as { candidates: { recipe: string; artifactSha: string | null }[] }).candidates;
  t.ok(candidates.some((c) => c.recipe === `searched-${id}` && c.artifactSha === result.finalist.artifactSha));
});
