/**
 * The planner builds pruned variants: preset chains with structured pruning and reconstruction
 * (and int8 on top) become candidates like any other recipe, built in worker threads with the
 * model's calibration split, evaluated on its test split, and weighed against the class budgets.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import { addModel, createClassService, createPlanner } from '@edgefleet/server/plan/index';

t.setTimeout(300_000);
const CNN = join(import.meta.dirname, '../../models/zoo/mnist-cnn.onnx');
const RECIPES = ['prune-structured+reconstruct', 'prune-structured+reconstruct+int8-static'];

t.test('pruned candidates are built, evaluated and planned for a class', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  t.teardown(() => store.close());
  let clock = 1_000;
  const now = () => ++clock;
  await createClassService(store.repos.classes, { now }).createFromProfile('rpi4');
  const bytes = readFileSync(CNN);
  await addModel({ models: store.repos.models, dataDir: dir, bytes, name: 'cnn', now: now(), evalSpec: 'mnist' });
  const planner = createPlanner({ ...store.repos, dataDir: dir, timedRuns: 20, now });
  const { plan } = await planner.plan({ model: 'cnn', deviceClass: 'rpi4', recipes: RECIPES });
  const by = new Map(plan.candidates.map((c) => [c.recipe, c]));
  const base = by.get('fp32');
  const pruned = by.get('prune-structured+reconstruct');
  const both = by.get('prune-structured+reconstruct+int8-static');
  t.ok(pruned && both && base, 'both pruned candidates are in the plan');
  t.equal(pruned?.excluded ?? null, null, `pruned built and eligible (${pruned?.excluded})`);
  t.equal(pruned?.precision, 'fp32', 'pruning alone computes in fp32');
  t.equal(both?.precision, 'int8');
  t.ok(
    (pruned?.bytes ?? Infinity) < (base?.bytes ?? 0),
    `pruned is smaller (${pruned?.bytes} of ${base?.bytes} bytes)`,
  );
  // The preset halves the MACs (about 3/4 of the parameters stay); int8 stores each in a byte.
  t.ok((both?.bytes ?? Infinity) < (base?.bytes ?? 0) / 4, `pruned + int8 is a fraction (${both?.bytes} bytes)`);
  t.equal(both?.excluded ?? null, null, `pruned + int8 built and eligible (${both?.excluded})`);
  t.ok(
    (pruned?.accuracyPct ?? 0) >= (base?.accuracyPct ?? 100) - 1.5,
    `top-1 ${pruned?.accuracyPct}% vs ${base?.accuracyPct}%`,
  );
  const variant = (await planner.variants.list(plan.model.sha256)).find(
    (v) => v.recipe === 'prune-structured+reconstruct',
  );
  t.ok(variant?.report?.pruning?.reconstructed, 'the stored variant keeps its pruning report');
});
