import t from 'tap';
import type { DeviceClass } from '@edgefleet/shared';
import { planSchema } from '@edgefleet/shared';
import {
  assemblePlan,
  candidateOf,
  candidatesOf,
  canonicalJson,
  checkBudgets,
  effectiveSpeedModel,
  formatPlanTable,
  paretoFront,
  precisionOf,
  predict,
  preferenceOrder,
  renderPlanSvg,
  BUILTIN_CLASS_PROFILES,
  type Built,
  type ModelRecord,
  type Variant,
} from '@edgefleet/server/plan/index';
import { parseRecipe } from '@edgefleet/compress/recipes';

const SHA = (c: string): string => c.repeat(64);
const model: ModelRecord = {
  sha256: SHA('a'),
  name: 'm',
  path: 'models/a.onnx',
  bytes: 1000,
  evalSpec: 'mnist',
  shapes: {},
  createdAt: 0,
};

function cls(name: string, patch: Partial<DeviceClass> = {}): DeviceClass {
  const spec = BUILTIN_CLASS_PROFILES.get(name);
  if (!spec) throw new Error(name);
  return { ...spec, version: 1, createdAt: 0, updatedAt: 0, ...patch };
}

/** A built candidate with made-up evaluation figures (accuracy %, agreement %, bytes, host p95 ms). */
function built(recipe: string, acc: number, agree: number, bytes: number, p95: number): Built {
  const candidate = candidateOf(recipe);
  const variant: Variant = {
    modelSha: model.sha256,
    recipe: candidate.name,
    recipeKey: candidate.key,
    precision: candidate.precision,
    artifactSha: SHA(String(bytes % 10)),
    artifactPath: `artifacts/${bytes}.onnx`,
    bytes,
    report: null,
    error: null,
    evaluation: {
      type: 'eval-result',
      v: 1,
      model: { path: 'x', sha256: SHA('b') },
      data: { source: 'mnist:test', count: 2000, labelled: true },
      accuracy: { top1: acc / 100, correct: Math.round(acc * 20), count: 2000 },
      fidelity:
        recipe === 'fp32'
          ? null
          : { reference: 'o', top1Agreement: agree / 100, meanCosine: 1, minCosine: 1, maxAbsError: 0, count: 2000 },
      size: { bytes, gzipBytes: bytes },
      latency: {
        threads: 1,
        batch: 1,
        warmupRuns: 1,
        timedRuns: 5,
        p50Ms: p95,
        p95Ms: p95,
        meanMs: p95,
        minMs: p95,
        source: 'measured',
      },
      memory: {
        weightBytes: bytes,
        batch: 1,
        activationPeakBytes: 100,
        activationPeakKnownBytes: 100,
        estimatedPeakBytes: bytes + 100,
        unknownOps: [],
        unknownValues: 0,
        rssGrowthBytes: 0,
      },
    },
  };
  return { candidate, variant };
}

const SET = (): Built[] => [
  built('fp32', 96.9, 100, 941_254, 0.26),
  built('fp16', 96.9, 100, 471_074, 0.3),
  built('int8-dynamic', 97.0, 99.9, 238_860, 0.12),
  built('int4-weights', 96.65, 99.3, 143_837, 0.25),
];

t.test('precisions of recipes: weight-only int8 computes in fp32', async (t) => {
  t.equal(precisionOf(parseRecipe('int8-static')), 'int8');
  t.equal(precisionOf(parseRecipe('int8-weights')), 'fp32');
  t.equal(precisionOf(parseRecipe('int4-weights')), 'int4');
  t.equal(precisionOf(parseRecipe('fp16')), 'fp16');
  t.equal(precisionOf(parseRecipe('int8-qat')), 'int8', 'QAT ends in the int8-static graph');
  t.equal(candidateOf('int8-qat').needsCalibration, true);
  t.equal(candidatesOf(['fp16', 'fp16', 'fp32'])[0]?.name, 'fp32', 'the baseline comes first, duplicates dropped');
  t.equal(candidatesOf(['fp16', 'fp16', 'fp32']).length, 2);
  t.equal(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
  t.throws(() => candidateOf('int7'), { code: 'EF_ERR_RECIPE_INVALID' });
});

t.test('predictions: host p95 × speed factor, energy = W × ms, average power by duty cycle', async (t) => {
  const rpi = cls('rpi4');
  const p = predict(2, 'fp32', rpi, effectiveSpeedModel(rpi.speedModel));
  t.equal(p?.source, 'predicted');
  t.equal(p?.p95LatencyMs, 25);
  t.equal(p?.energyPerInferenceMj, 160);
  t.equal(p?.avgPowerW, 2.7 + (6.4 - 2.7) * 0.25);
  t.equal(
    predict(2, 'fp16', rpi, effectiveSpeedModel(rpi.speedModel)),
    null,
    'no figures for a precision the class lacks',
  );
  const corrected = effectiveSpeedModel(rpi.speedModel, { ratio: 2, label: 'loop' });
  t.equal(corrected.factors.fp32, 25);
  t.equal(corrected.version, 'builtin-1+loop:x2');
  t.equal(corrected.status, 'calibrated');
  t.equal(effectiveSpeedModel(rpi.speedModel, { factors: { int8: 1 } }).factors.int8, 1);
});

t.test('budget checks name each failing budget with its excess', async (t) => {
  const j = {
    recipe: 'x',
    bytes: 2000,
    accuracyPct: 90,
    agreementPct: 95,
    p95LatencyMs: 30,
    energyPerInferenceMj: 10,
    avgPowerW: 3,
    peakMemoryBytes: 5000,
  };
  const v = checkBudgets(
    j,
    { maxModelBytes: 1000, maxP95LatencyMs: 20, maxAccuracyDropPts: 1 },
    { memoryBytes: 4000, storageBytes: 1e9 },
    92,
  );
  t.same(
    v.map((x) => [x.budget, x.excess]),
    [
      ['maxModelBytes', 1000],
      ['capabilities.memoryBytes', 1000],
      ['maxP95LatencyMs', 10],
      ['maxAccuracyDropPts', 1],
    ],
  );
  t.same(
    checkBudgets(j, { minAccuracyPct: 95 }, { memoryBytes: 1e9, storageBytes: 1e9 }, 92).map((x) => [
      x.budget,
      x.excess,
    ]),
    [['minAccuracyPct', 5]],
  );
  t.same(checkBudgets(j, {}, { memoryBytes: 1e9, storageBytes: 1e9 }, 92), []);
});

t.test('Pareto front and preference', async (t) => {
  const a = {
    recipe: 'a',
    bytes: 10,
    accuracyPct: 90,
    agreementPct: 99,
    p95LatencyMs: 1,
    energyPerInferenceMj: 1,
    avgPowerW: 1,
    peakMemoryBytes: null,
  };
  const b = { ...a, recipe: 'b', bytes: 20 };
  const c = { ...a, recipe: 'c', accuracyPct: 95, p95LatencyMs: 5 };
  t.same(
    paretoFront([a, b, c]).map((x) => x.recipe),
    ['a', 'c'],
    'b is dominated by a',
  );
  const order = preferenceOrder(92);
  t.same(
    [a, b, c].sort(order).map((x) => x.recipe),
    ['c', 'a', 'b'],
  );
  const lucky = { ...a, recipe: 'lucky', accuracyPct: 93, agreementPct: 98 };
  const exact = { ...a, recipe: 'exact', accuracyPct: 92, agreementPct: 100, bytes: 40 };
  t.same(
    [lucky, exact].sort(order).map((x) => x.recipe),
    ['exact', 'lucky'],
    'scoring above the original is noise; agreement breaks the tie',
  );
});

t.test('classes pick different variants where their budgets and precisions differ', async (t) => {
  const picks = new Map<string, string | null>();
  for (const name of BUILTIN_CLASS_PROFILES.keys()) {
    const c = cls(name);
    const plan = planSchema.parse(assemblePlan(model, c, effectiveSpeedModel(c.speedModel), SET()));
    t.equal(plan.outcome, 'feasible', `${name}: ${plan.reason}`);
    picks.set(name, plan.chosen);
  }
  t.equal(picks.get('mcu-gateway'), 'int8-dynamic', 'the int8-only MCU gets the int8 variant');
  t.equal(picks.get('jetson-orin'), 'fp16', 'Jetson keeps full accuracy at the smaller float size');
  t.equal(picks.get('rpi4'), 'fp32', 'no fp16 on a Cortex-A72: rpi4 keeps fp32');
  const tight = cls('jetson-orin', { budgets: { maxModelBytes: 300_000 } });
  t.equal(
    assemblePlan(model, tight, effectiveSpeedModel(tight.speedModel), SET()).chosen,
    'int8-dynamic',
    'a size budget moves Jetson to int8',
  );
});

t.test('an impossible budget: no feasible variant, every failing budget named, the closest returned', async (t) => {
  const c = cls('rpi4', { budgets: { maxP95LatencyMs: 0.001, minAccuracyPct: 99.5 } });
  const plan = assemblePlan(model, c, effectiveSpeedModel(c.speedModel), SET());
  t.equal(plan.outcome, 'no-feasible-variant');
  t.match(plan.reason, /no feasible variant for rpi4/);
  t.match(plan.reason, /maxP95LatencyMs/);
  t.match(plan.reason, /minAccuracyPct/);
  t.equal(plan.chosen, 'int8-dynamic', 'the closest miss is the fastest, most accurate one');
  for (const cand of plan.candidates.filter((x) => x.eligible))
    t.ok(cand.violations.length >= 2, `${cand.recipe} lists its violations`);
  const table = formatPlanTable(plan);
  t.match(table, /NO FEASIBLE VARIANT; closest: int8-dynamic/);
  t.match(table, /predicted/);
});

t.test('the same inputs give the same plan, and the SVG draws budgets and marks the choice', async (t) => {
  const c = cls('jetson-orin');
  const one = assemblePlan(model, c, effectiveSpeedModel(c.speedModel), SET());
  const two = assemblePlan(model, c, effectiveSpeedModel(c.speedModel), SET().reverse());
  t.equal(JSON.stringify(one.chosen), JSON.stringify(two.chosen), 'order of candidates does not change the choice');
  t.equal(JSON.stringify(one), JSON.stringify(assemblePlan(model, c, effectiveSpeedModel(c.speedModel), SET())));
  const svg = renderPlanSvg(one);
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(svg, /max p95 30 ms/);
  t.match(svg, /min accuracy 96.4%/);
  t.match(svg, /fp16 \(chosen\)/);
  t.match(svg, /int8-dynamic/);
  t.equal(svg, renderPlanSvg(one), 'rendering is deterministic');
  t.equal((svg.match(/<svg/g) ?? []).length, (svg.match(/<\/svg>/g) ?? []).length);
  const none = assemblePlan(model, cls('mcu-gateway'), effectiveSpeedModel(cls('mcu-gateway').speedModel), [
    built('fp32', 96.9, 100, 941_254, 0.26),
  ]);
  t.equal(none.chosen, null);
  t.match(none.reason, /no candidate can run on this class/);
});
