/**
 * Variant builds as a pg-boss queue in Postgres (server/src/plan/variant-queue.ts): a worker
 * process killed with -9 while it holds a build does not lose it; its Postgres session ends, the
 * sweep fails the build at once (not after its expiry), pg-boss retries it, and another worker
 * builds the real variant (int8-dynamic of a small classifier). Progress rows go with their jobs.
 * Skipped with the reason only when Postgres cannot run here; CI must run it.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { PRESETS } from '@edgefleet/compress';
import { openSqliteStore } from '@edgefleet/server';
import { createModelService } from '@edgefleet/server/plan/models';
import { jobIdOf, startVariantQueue } from '@edgefleet/server/plan/variant-queue';
import { variantRowOf } from '@edgefleet/server/plan/variant-row';
import type { VariantJob } from '@edgefleet/server/plan/variant-job';
import { buildClassifier } from '../fixtures/deploy-models.js';
import pg from 'pg';
import { startEmbeddedPostgres } from '../helpers/postgres.js';
import { spawnSnippet } from '../helpers/spawn-ts.js';
import { waitFor } from './presence-suite.js';

const silent = pino({ level: 'silent' });
// Long enough for the real build on a busy 2-core box (pg-boss 10 also stops a handler running past it). The
// dead worker's build is not left to expire: the sweep finds it through the worker's ended session.
const EXPIRE_S = 120;

const cluster = await startEmbeddedPostgres();
if ('unavailable' in cluster) {
  if (process.env['CI']) t.fail(`Postgres must run in CI: ${cluster.unavailable}`);
  else t.pass(`skipped: Postgres cannot run here (${cluster.unavailable})`);
} else {
  t.teardown(() => cluster.stop());

  t.test('a build whose worker was killed -9 is retried and finished by another worker', async (t) => {
    const dir = t.testdir({ artifacts: {} });
    const modelPath = join(dir, 'model.onnx');
    writeFileSync(modelPath, buildClassifier(41));
    mkdirSync(join(dir, 'artifacts'), { recursive: true });
    const recipe = PRESETS['int8-dynamic'];
    if (!recipe) throw new Error('no int8-dynamic preset');
    const job: VariantJob = {
      modelPath,
      recipe,
      evalSpec: 'random:8',
      calibSpec: 'random:8',
      shapes: {},
      artifactDir: join(dir, 'artifacts'),
      warmupRuns: 1,
      timedRuns: 5,
      needsCalibration: false,
    };
    const url = await cluster.createDatabase('jobs');
    const queueOptions = {
      connectionString: url,
      expireInSeconds: EXPIRE_S,
      retryLimit: 3,
      maintenanceIntervalSeconds: 1,
    };
    const sender = await startVariantQueue({ ...queueOptions, logger: silent, pollMs: 100 });
    t.teardown(() => sender.close());
    // Worker a takes the job and is killed while it holds it (its build is a long wait, to be sure of that).
    const a = spawnSnippet(`
      import { openSqliteStore } from '@edgefleet/server';
import { createModelService } from '@edgefleet/server/plan/models';
import { jobIdOf, startVariantQueue } from '@edgefleet/server/plan/variant-queue';
import { variantRowOf } from '@edgefleet/server/plan/variant-row';
      import pino from 'pino';
      const q = await startVariantQueue({ ...${JSON.stringify(queueOptions)}, logger: pino({ level: 'silent' }) });
      await q.work({
        runJob: async (_job, onStage) => {
          onStage?.('compressing');
          console.log('worker-a building');
          await new Promise((r) => setTimeout(r, 600000));
          throw new Error('unreachable');
        },
      });
      console.log('worker-a ready');
    `);
    t.teardown(() => a.proc.kill('SIGKILL'));
    await a.waitForOutput(/worker-a ready/, 60_000);
    const outcome = sender.runner(job);
    await a.waitForOutput(/worker-a building/, 30_000);
    const [id] = sender.inFlight();
    if (!id) throw new Error('no job in flight');
    t.equal((await sender.state(id))?.state, 'active', 'worker a holds the job');
    // Progress through the API's source: the step worker a reported (recorded asynchronously).
    let seen = (await sender.jobs({ id }))[0];
    for (let i = 0; i < 100 && seen?.stage !== 'compressing'; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await sender.jobs({ id }))[0];
    }
    t.match(seen, { id, state: 'active', attempts: 1, maxAttempts: 4, stage: 'compressing', progress: 0.25 });
    t.match(seen, { recipe: 'int8-dynamic', error: null, finishedAt: null });
    t.same(await sender.jobs({ id: 'not-a-uuid' }), [], 'an id that is no job id finds nothing');
    t.same(await sender.sweep(), [], 'a live worker’s build is left alone');
    a.proc.kill('SIGKILL');
    await a.exited;
    // Postgres ends the killed worker's session (and frees its liveness lock) once it sees the socket closed.
    await waitFor(async () => (await sender.sweep()).includes(id), 30_000, 'the sweep to find the dead worker');
    t.match((await sender.jobs({ id }))[0], { state: 'retry', error: /worker running it died/ }, 'failed, to retry');
    const b = await startVariantQueue({ ...queueOptions, logger: silent });
    t.teardown(() => b.close());
    await b.work();
    const result = await outcome;
    t.equal(result.ok, true, `the build finished (${result.ok ? result.artifactSha.slice(0, 12) : result.message})`);
    t.ok(result.ok && result.compressed, 'a real int8-dynamic variant');
    const state = await sender.state(id);
    t.equal(state?.state, 'completed');
    t.ok((state?.retryCount ?? 0) >= 1, `retried after the sweep (${state?.retryCount} retries)`);
    const [done] = await sender.jobs();
    t.match(done, { id, state: 'completed', stage: 'done', progress: 1, error: null });
    t.ok((done?.attempts ?? 0) >= 2, `two runs or more shown (${done?.attempts})`);
    // pg-boss archives and deletes jobs on its own schedule; their progress rows go at the next sweep.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.teardown(() => admin.end());
    const progressRows = async () =>
      (await admin.query('SELECT 1 FROM edgefleet_job_progress WHERE job_id = $1', [id])).rowCount;
    t.equal(await progressRows(), 1, 'the finished job keeps its progress row');
    await admin.query('DELETE FROM pgboss.job WHERE id = $1', [id]);
    await sender.sweep();
    t.equal(await progressRows(), 0, 'the progress row of a job pg-boss deleted is gone');
  });

  t.test('one variant asked twice is one job; one that failed for good is tried again when asked again', async (t) => {
    // The worker stores what it builds in the replicas' store (a real SQLite one stands in for their Postgres here).
    const dataDir = t.testdir();
    const store = openSqliteStore({ dataDir });
    t.teardown(() => store.close());
    const models = createModelService(store.repos.models, dataDir, Date.now);
    const { model } = await models.add({ bytes: buildClassifier(43), name: 'm', evalSpec: 'random:8' });
    const q = await startVariantQueue({
      connectionString: await cluster.createDatabase('joins'),
      logger: silent,
      retryLimit: 0,
      pollMs: 50,
      variants: store.repos.variants,
    });
    t.teardown(() => q.close());
    const target = {
      modelSha: model.sha256,
      recipeKey: 'int8-dynamic',
      recipeName: 'int8-dynamic',
      recipe: 'int8-dynamic',
      precision: 'int8',
      artifactDir: 'artifacts',
    };
    const job: VariantJob = {
      modelPath: 'model.onnx',
      recipe: null,
      evalSpec: 'random:8',
      calibSpec: 'random:8',
      shapes: {},
      artifactDir: 'artifacts',
      warmupRuns: 1,
      timedRuns: 5,
      needsCalibration: false,
      target,
    };
    let runs = 0;
    // The build itself is not the point here: the first run crashes, the next one answers a failure of its own.
    await q.work({
      runJob: async () => {
        runs += 1;
        if (runs === 1) throw new Error('the first run crashed');
        return { ok: false, code: 'EF_ERR_PLAN_FAILED', message: `run ${runs}`, compressed: false };
      },
    });
    const both = await Promise.all([q.runner(job), q.runner(job)]);
    t.equal(runs, 1, 'asked twice at once, built once');
    t.match(both, [
      { ok: false, message: /failed after 0 retries/ },
      { ok: false, message: /failed after 0 retries/ },
    ]);
    t.match(await q.jobs(), [{ id: jobIdOf(target), state: 'failed', error: /the first run crashed/ }], 'one job');
    const again = await q.runner(job);
    t.match(again, { ok: false, message: 'run 2' }, 'asked again after it failed for good: run again');
    t.match(await q.jobs(), [{ id: jobIdOf(target), state: 'completed' }], 'still one job');
    t.match(await store.repos.variants.get(target.modelSha, target.recipeKey), { error: 'EF_ERR_PLAN_FAILED: run 2' });
    // A run that finds its variant stored (an earlier run stored it and died before the queue heard) builds nothing.
    const stored = { ...target, recipeKey: 'int8-static' };
    const died = {
      ok: false as const,
      code: 'EF_ERR_COMPRESS_UNSUPPORTED',
      message: 'stored earlier',
      compressed: true,
    };
    await store.repos.variants.put(variantRowOf(stored, died, 1));
    t.same(await q.runner({ ...job, target: stored }), { ...died, compressed: false }, 'answered from the row');
    t.equal(runs, 2, 'not built again');
  });
}
