import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import { addModel, createClassService, createPlanner, BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';

const MLP = join(import.meta.dirname, '../../models/zoo/mnist-mlp.onnx');
// A small candidate set keeps the test quick; fp32 (the baseline) is always added.
const RECIPES = ['fp16', 'int8-dynamic', 'int4-weights'];

t.test('planning mnist-mlp for the built-in classes on a real store, in worker threads', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  t.teardown(() => store.close());
  let clock = 1_000;
  const now = () => ++clock;
  const classes = createClassService(store.repos.classes, { now });
  for (const name of BUILTIN_CLASS_PROFILES.keys()) await classes.createFromProfile(name);
  const bytes = readFileSync(MLP);
  const first = await addModel({ models: store.repos.models, dataDir: dir, bytes, name: 'mlp', now: now() });
  t.ok(first.added);
  const again = await addModel({ models: store.repos.models, dataDir: dir, bytes, name: 'other-name', now: now() });
  t.notOk(again.added, 're-adding the same bytes is a no-op');
  t.equal(again.model.name, 'mlp');
  await t.rejects(
    addModel({ models: store.repos.models, dataDir: dir, bytes: new Uint8Array([1, 2, 3]), name: 'junk' }),
    {
      code: 'EF_ERR_MODEL_PARSE',
    },
  );

  const planner = createPlanner({ ...store.repos, dataDir: dir, timedRuns: 50, now });
  const plans = await planner.planAll({ model: 'mlp', recipes: RECIPES });
  const byClass = new Map(plans.map((p) => [p.plan.deviceClass.name, p.plan]));
  t.equal(planner.variants.stats.builds, 4, 'one build per candidate, shared by all four classes');
  t.equal(planner.variants.stats.compressions, 3, 'the baseline is stored, not compressed');

  const chosen = (name: string) => byClass.get(name)?.candidates.find((c) => c.recipe === byClass.get(name)?.chosen);
  const mcu = chosen('mcu-gateway');
  // Not asserting `feasible` here: the MCU's latency is host p95 × 150, and host p95 on a loaded
  // CI box can spike; the class still only ever gets (or is offered as closest) an int8 variant.
  t.equal(mcu?.precision, 'int8', 'the MCU class gets an int8 variant');
  t.ok((mcu?.bytes ?? Infinity) <= 1_000_000, 'under its ~1 MB size budget');
  const jetson = chosen('jetson-orin');
  t.ok(jetson?.feasible);
  // The default objective (issue 21): among feasible variants within 0.5 points of the most
  // accurate, the lowest predicted energy per inference; measured here, so checked as a property.
  const jetsonPlan = byClass.get('jetson-orin');
  const feasible = jetsonPlan?.candidates.filter((c) => c.feasible) ?? [];
  const best = Math.max(...feasible.map((c) => Math.min(c.accuracyPct ?? 0, jetsonPlan?.baseline.accuracyPct ?? 100)));
  const within = feasible.filter((c) => (c.accuracyPct ?? 0) >= best - 0.5 - 1e-9);
  const leastEnergy = Math.min(...within.map((c) => c.predicted?.energyPerInferenceMj ?? Infinity));
  t.equal(
    jetson?.predicted?.energyPerInferenceMj,
    leastEnergy,
    `Jetson gets its least-energy variant (${jetson?.recipe})`,
  );
  t.same(jetsonPlan?.objective, { kind: 'energy', accuracyTolerancePts: 0.5, source: 'default' });
  t.equal(chosen('rpi4')?.precision === 'fp16', false, 'rpi4 never gets fp16 (Cortex-A72 has no fp16 arithmetic)');
  for (const p of plans) {
    t.equal(p.reused, false);
    t.ok(p.plan.front.length >= 1, `${p.plan.deviceClass.name} has a Pareto front`);
    for (const c of p.plan.candidates.filter((x) => x.predicted)) t.equal(c.predicted?.source, 'predicted');
    t.equal(p.plan.speedModel.version, 'builtin-1');
  }

  t.test('caching: a second plan runs no compression and returns the same stored plan', async (t) => {
    const before = { ...planner.variants.stats };
    const second = await planner.planAll({ model: 'mlp', recipes: RECIPES });
    t.same(planner.variants.stats, before, 'no build, no compression');
    t.ok(second.every((p) => p.reused));
    t.same(
      second.map((p) => p.plan),
      plans.map((p) => p.plan),
      'same inputs, same plan JSON',
    );
    const fresh = createPlanner({ ...store.repos, dataDir: dir, timedRuns: 50, now });
    await fresh.plan({
      model: 'mlp',
      deviceClass: 'rpi4',
      recipes: RECIPES,
      speedModelOverride: { ratio: 3, label: 'loop' },
    });
    t.equal(fresh.variants.stats.compressions, 0, 'a new planner (new process) reuses the stored variants');
  });

  t.test('a class update invalidates its plans; re-planning uses the new version', async (t) => {
    const old = await planner.list({ deviceClass: 'rpi4' });
    t.ok(old.length >= 1);
    const updated = await classes.update('rpi4', { budgets: { ...(await classes.get('rpi4')).budgets } });
    t.equal(updated.version, 2);
    t.same(await planner.list({ deviceClass: 'rpi4' }), [], 'no valid rpi4 plans remain');
    t.ok((await planner.list({ deviceClass: 'rpi4', includeInvalidated: true })).length >= old.length);
    t.ok((await planner.list({ deviceClass: 'jetson-orin' })).length >= 1, 'other classes keep theirs');
    const replanned = await planner.plan({ model: 'mlp', deviceClass: 'rpi4', recipes: RECIPES });
    t.equal(replanned.reused, false);
    t.equal(replanned.plan.deviceClass.version, 2);
    const original = plans.find((p) => p.plan.deviceClass.name === 'rpi4')?.plan;
    t.same(
      { ...replanned.plan, deviceClass: null },
      { ...original, deviceClass: null },
      'same budgets and variants: the same plan, only the class version differs',
    );
  });

  t.test('an impossible budget yields "no feasible variant" naming the failing budgets', async (t) => {
    await classes.update('jetson-orin', { budgets: { maxP95LatencyMs: 0.000001, minAccuracyPct: 99.9 } });
    const r = await planner.plan({ model: 'mlp', deviceClass: 'jetson-orin', recipes: RECIPES });
    t.equal(r.plan.outcome, 'no-feasible-variant');
    t.match(r.plan.reason, /no feasible variant for jetson-orin/);
    t.match(r.plan.reason, /maxP95LatencyMs/);
    t.match(r.plan.reason, /minAccuracyPct/);
    t.ok(r.plan.chosen, 'the closest candidate is returned');
  });

  t.test('a speed-model correction re-plans with the corrected factors', async (t) => {
    const base = await planner.plan({ model: 'mlp', deviceClass: 'mcu-gateway', recipes: RECIPES });
    const slow = await planner.plan({
      model: 'mlp',
      deviceClass: 'mcu-gateway',
      recipes: RECIPES,
      speedModelOverride: { ratio: 1000, label: 'telemetry' },
    });
    t.not(slow.id, base.id);
    t.equal(slow.plan.speedModel.version, 'builtin-1+telemetry:x1000');
    t.equal(slow.plan.outcome, 'no-feasible-variant', '1000x slower breaks the 100 ms budget');
    t.match(slow.plan.reason, /maxP95LatencyMs/);
  });

  t.test('a class that runs batch 32 is predicted from a batch-32 host timing, measured once', async (t) => {
    await classes.createFromProfile('rpi4', 'rpi4-batch', { powerModel: { workloadBatch: 32 } });
    const before = { ...planner.variants.stats };
    // Two candidates (the baseline and one recipe) keep the timings few: each runs in a fresh worker.
    const recipes = ['int8-dynamic'];
    const r = await planner.plan({ model: 'mlp', deviceClass: 'rpi4-batch', recipes });
    t.same(planner.variants.stats, before, 'timings are not builds: no compression');
    const stored = new Map((await planner.variants.list(r.plan.model.sha256)).map((v) => [v.artifactSha, v]));
    const timed = r.plan.candidates.filter((c) => c.predicted !== null);
    t.equal(timed.length, 2, 'both candidates have a prediction at batch 32');
    for (const c of timed) {
      const at32 = stored.get(c.artifactSha)?.evaluation?.latencyByBatch?.['32'];
      t.equal(at32?.batch, 32, `${c.recipe}: a host timing of batch-32 calls is stored with the variant`);
      t.equal(c.predicted?.batch, 32, `${c.recipe}: the prediction says it is per batch-32 call`);
      t.equal(c.predicted?.hostP95Ms, Math.round((at32?.p95Ms ?? -1) * 1e4) / 1e4, `${c.recipe}: from that timing`);
      const batch1 = stored.get(c.artifactSha)?.evaluation?.latency?.p95Ms;
      t.not(c.predicted?.hostP95Ms, batch1, `${c.recipe}: not from the batch-1 timing`);
    }
    const rpi4 = (await planner.plan({ model: 'mlp', deviceClass: 'rpi4', recipes })).plan;
    t.ok(
      rpi4.candidates.every((c) => c.predicted === null || c.predicted.batch === undefined),
      'a batch-1 class keeps batch-1 predictions',
    );
    const timing = JSON.stringify([...stored.values()].map((v) => v.evaluation?.latencyByBatch));
    await classes.createFromProfile('rpi4', 'rpi4-batch-2', { powerModel: { workloadBatch: 32 } });
    await planner.plan({ model: 'mlp', deviceClass: 'rpi4-batch-2', recipes });
    const again = JSON.stringify(
      (await planner.variants.list(r.plan.model.sha256)).map((v) => v.evaluation?.latencyByBatch),
    );
    t.equal(again, timing, 'a second class at batch 32 reuses the stored timings');
  });

  t.test('unknown model or class: typed errors with advice', async (t) => {
    await t.rejects(planner.plan({ model: 'nope', deviceClass: 'rpi4' }), {
      code: 'EF_ERR_MODEL_NOT_FOUND',
      message: /edgefleet model add/,
    });
    await t.rejects(planner.plan({ model: 'mlp', deviceClass: 'nope' }), {
      code: 'EF_ERR_CLASS_NOT_FOUND',
      message: /class create/,
    });
  });
});

t.test('class CRUD over the store', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  t.teardown(() => store.close());
  const classes = createClassService(store.repos.classes, { now: () => 5 });
  const c = await classes.createFromProfile('rpi4', 'lab-pis', { budgets: { maxP95LatencyMs: 15 } });
  t.equal(c.name, 'lab-pis');
  t.same(c.budgets, { maxP95LatencyMs: 15 });
  await t.rejects(classes.createFromProfile('rpi4', 'lab-pis'), { code: 'EF_ERR_CLASS_EXISTS' });
  await t.rejects(classes.createFromProfile('nano'), { code: 'EF_ERR_CLASS_NOT_FOUND', message: /mcu-gateway/ });
  await t.rejects(classes.update('lab-pis', { budgets: { minAccuracyPct: 120 } }), {
    code: 'EF_ERR_CLASS_INVALID',
    message: /cannot be above 100/,
  });
  t.equal((await classes.get('lab-pis')).version, 1, 'a refused update changes nothing');
  t.equal(
    (await classes.update('lab-pis', { speedModel: { factors: { fp32: 10, int8: 8, int4: 9 } } })).speedModel.factors
      .fp32,
    10,
  );
  await store.repos.devices.upsertHello(
    {
      type: 'hello',
      v: 1,
      deviceId: 'd1',
      deviceClass: 'seen-only',
      agentVersion: '1',
      runtime: { node: 'v20', onnxruntime: '1.30.0' },
      capabilities: {
        cpuModel: 'x',
        cores: 1,
        memoryBytes: 1,
        executionProviders: ['cpu'],
        precisions: ['fp32'],
        powerSource: 'none',
      },
      currentModel: null,
      sentAt: 1,
    },
    1,
  );
  t.same(
    (await classes.listUnconfigured()).map((u) => u.name),
    ['seen-only'],
  );
  t.equal(
    (await classes.createFromProfile('rpi4', 'seen-only')).name,
    'seen-only',
    'a class known from a hello can be configured',
  );
  await t.rejects(classes.remove('seen-only'), { message: /still has devices/ });
  await classes.remove('lab-pis');
  await t.rejects(classes.get('lab-pis'), { code: 'EF_ERR_CLASS_NOT_FOUND' });
  await t.rejects(classes.remove('lab-pis'), { code: 'EF_ERR_CLASS_NOT_FOUND' });
  t.same(
    (await classes.list()).map((x) => x.name),
    ['seen-only'],
  );
});
