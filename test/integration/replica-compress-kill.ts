/**
 * kill -9 of a replica during a compression job (issue 20), run by replicas.test.ts on its
 * Postgres (one database server for the replica tests): two replicas on one Postgres behind
 * mosquitto. Replica a (its own process) plans a model; its worker is evaluating the int8
 * variant when a is killed. Replica b notices the dead worker through its Postgres session,
 * its worker builds the job again, and stores the variant; a plan asked on b joins that job
 * instead of queuing a second build, and completes with the variant. Nothing stays active.
 */
import type { Test } from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { startVariantQueue, type QueuedJob } from '@edgefleet/server/plan/variant-queue';
import type { EmbeddedPostgres } from '../helpers/postgres.js';
import { REPO_ROOT, spawnSnippet } from '../helpers/spawn-ts.js';
import { waitFor } from './presence-suite.js';
import { replica, replicaFlags, startPlainMosquitto } from './replica-suite.js';

const silent = pino({ level: 'silent' });
const MODEL = join(REPO_ROOT, 'models/zoo/mnist-mlp.onnx');
// 600 real digits: the evaluation is the longest step of the build (~1 s on a quiet box), so a kill on seeing it
// lands mid-build at any load (the step scales with the load as the polling does), and the retry stays short.
const EVAL = 'mnist:600';

/** The test: `t.test(name, (t) => replicaKilledMidBuild(t, cluster))`. */
export async function replicaKilledMidBuild(t: Test, cluster: EmbeddedPostgres): Promise<void> {
  const dir = t.testdir({ a: {}, b: {}, shared: {}, broker: {} });
  const broker = await startPlainMosquitto(join(dir, 'broker'));
  t.teardown(() => broker.stop());
  const store = await cluster.createDatabase('compress_kill');
  const shared = join(dir, 'shared');
  const flagsA = replicaFlags(join(dir, 'a'), store, broker.url, shared);
  // Replica a alone at first, so its worker takes the builds its planner queues.
  const a = spawnSnippet(`
    import { readFileSync } from 'node:fs';
    import { createServer, loadServerConfig } from '@edgefleet/server';
    import pino from 'pino';
    const server = createServer(loadServerConfig({ flags: ${JSON.stringify(flagsA)} }), {
      logger: pino({ level: 'silent' }),
      planner: { timedRuns: 20 },
    });
    await server.start();
    const { model } = await server.services().models.add({
      bytes: readFileSync(${JSON.stringify(MODEL)}), name: 'mlp', evalSpec: ${JSON.stringify(EVAL)},
    });
    await server.services().classes.createFromProfile('rpi4');
    console.log('replica-a planning ' + model.sha256);
    await server.planner().plan({ model: model.sha256, deviceClass: 'rpi4', recipes: ['int8-dynamic'] });
    console.log('replica-a planned');
    setInterval(() => {}, 1 << 30);
  `);
  t.teardown(() => a.proc.kill('SIGKILL'));
  await a.waitForOutput(/replica-a planning [0-9a-f]{64}/, 60_000);
  const modelSha = /replica-a planning ([0-9a-f]{64})/.exec(a.output())?.[1] ?? '';
  // The queue as the API reads it (GET /v1/jobs), from outside both replicas.
  const watch = await startVariantQueue({ connectionString: store, logger: silent });
  t.teardown(() => watch.close());
  const int8Jobs = async (): Promise<QueuedJob[]> => (await watch.jobs()).filter((j) => j.recipe === 'int8-dynamic');
  await waitFor(
    async () => (await int8Jobs())[0]?.stage === 'evaluating' || /replica-a planned/.test(a.output()),
    60_000,
    'replica a evaluating the int8 variant',
  );
  a.proc.kill('SIGKILL');
  await a.exited;
  const [killed] = await int8Jobs();
  t.match(killed, { state: 'active', attempts: 1, stage: 'evaluating' }, 'the kill landed mid-build');
  t.notMatch(a.output(), /replica-a planned/, 'replica a never finished its plan');

  const b = replica(join(dir, 'b'), store, broker.url, shared);
  await b.start();
  t.teardown(() => b.stop());
  // The same plan asked on b while a's build is still held by the dead worker: it must join that job.
  const plan = await b.planner().plan({ model: modelSha, deviceClass: 'rpi4', recipes: ['int8-dynamic'] });
  const int8 = plan.plan.candidates.find((c) => c.recipe === 'int8-dynamic');
  t.ok(int8?.artifactSha, `the plan on b completed with the int8 variant (${int8?.artifactSha?.slice(0, 12)})`);

  const jobs = await int8Jobs();
  t.equal(jobs.length, 1, 'one job for the variant: asked again on b, it joined the job a had queued');
  const [done] = jobs;
  t.match(done, { id: killed?.id, state: 'completed', stage: 'done', error: null });
  t.ok((done?.attempts ?? 0) >= 2, `b's worker ran it again after the kill (${done?.attempts} runs)`);
  const rows = (await b.repos().variants.list(modelSha)).filter((v) => v.recipeName === 'int8-dynamic');
  t.equal(rows.length, 1, 'one variant row');
  t.equal(rows[0]?.artifactSha, int8?.artifactSha, 'the row is the plan’s variant');
  t.ok(existsSync(join(shared, rows[0]?.artifactPath ?? 'missing')), 'its artifact is in the shared directory');
  // Stored by b's worker before the job completed, and not written again by b's planner afterwards.
  t.ok((rows[0]?.createdAt ?? Infinity) <= (done?.finishedAt ?? 0), 'stored once, by the worker that built it');
  const stuck = (await watch.jobs()).filter((j) => j.state !== 'completed');
  t.same(stuck, [], 'no job left created, active or waiting to retry');
}
