/**
 * Pruning through the recipe front door (compressModel), on small seeded models: preset chains
 * and inline options parse; the report carries params, MACs and fidelity per layer before and
 * after and names every group left whole; the reconstruct step refits a duplicated channel away
 * exactly; results are deterministic; and every kind of bad input is a clear, coded error that
 * leaves nothing half-done.
 */
import t from 'tap';
import { compressModel } from '@edgefleet/compress/compress-model';
import { parseRecipe } from '@edgefleet/compress/recipes';
import { loadDataSource } from '@edgefleet/compress/data/source';
import { modelInputsOf } from '@edgefleet/compress/eval/index';
import { writeModel } from '@edgefleet/compress/ir/index';
import { floatInit } from '@edgefleet/compress/passes/util';
import { pruneStructured } from '@edgefleet/compress/prune/structured';
import { isEdgefleetError } from '@edgefleet/shared';
import { convChain } from '../fixtures/prune-models.js';

const model = convChain();
const bytes = writeModel(model);
const calib = loadDataSource('random:48', modelInputsOf(model));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err: unknown) {
    return isEdgefleetError(err) ? `${err.code}: ${err.message}` : `uncoded: ${String(err)}`;
  }
}

t.test('preset chains and inline options parse into the steps they name', async (t) => {
  const chain = parseRecipe('prune-structured+reconstruct+int8-static');
  t.equal(chain.name, 'prune-structured+reconstruct+int8-static');
  t.same(
    chain.steps.map((s) => s.pass),
    ['constants-to-initializers', 'prune-structured', 'reconstruct', 'opset-upgrade', 'fold-batchnorm', 'int8-static'],
    'the presets in order, the shared first step once',
  );
  const inline = parseRecipe('[{"pass":"prune-structured","target":{"params":0.25},"importance":"reconstruction"}]');
  t.same(inline.steps[0], {
    pass: 'prune-structured',
    options: { target: { params: 0.25 }, importance: 'reconstruction' },
  });
  for (const bad of [
    '[{"pass":"prune-structured","ratio":1}]',
    '[{"pass":"prune-structured","ratio":-0.1}]',
    '[{"pass":"prune-structured","ratio":0.5,"target":{"macs":0.5}}]',
    '[{"pass":"prune-structured","ratio":0.5,"channelMultiple":0}]',
    '[{"pass":"prune-structured","target":{"macs":0}}]',
    '[{"pass":"prune-magnitude","sparsity":1.5}]',
    'prune-structured+no-such-preset',
  ])
    t.match(await codeOf(Promise.resolve().then(() => parseRecipe(bad))), /^EF_ERR_RECIPE_INVALID/, bad);
});

// The fixtures have 4-8 channels per group: exact counts (channelMultiple 1), not the default multiple of 4.
const PRUNE_QUARTER = '[{"pass":"prune-structured","ratio":0.25,"channelMultiple":1},{"pass":"reconstruct"}]';

t.test(
  'the report gives params, MACs and fidelity per layer before and after, and names groups left whole',
  async (t) => {
    const { bytes: out, report } = await compressModel(bytes, PRUNE_QUARTER, { calib });
    const p = report.pruning;
    t.ok(p, 'a pruning section');
    t.equal(p?.reconstructed, true);
    t.ok((p?.totals.paramsAfter ?? Infinity) < (p?.totals.paramsBefore ?? 0), 'fewer parameters');
    t.ok((p?.totals.macsAfter ?? Infinity) < (p?.totals.macsBefore ?? 0), 'fewer MACs');
    const c2 = p?.layers.find((l) => l.node === 'c2');
    t.ok(c2 && c2.paramsAfter < c2.paramsBefore && c2.macsAfter < c2.macsBefore, 'c2 lost inputs and outputs');
    t.ok(c2?.cosine !== null && (c2?.cosine ?? 0) > 0.5, `c2 output cosine ${c2?.cosine}`);
    t.ok(c2?.cosineBeforeRefit !== null, 'refit layers show their cosine before the refit');
    t.ok((p?.fidelity?.cosine ?? 0) > 0.9, `model output cosine ${p?.fidelity?.cosine}`);
    t.match(
      report.layers.find((l) => l.node === 'fc')?.reason,
      /left whole: y is a model output/,
      'the group left whole names why',
    );
    const again = await compressModel(bytes, PRUNE_QUARTER, { calib });
    t.equal(again.report.sha256, report.sha256, 'same input and recipe: same bytes');
    t.ok(out.byteLength < bytes.byteLength, 'smaller file');
  },
);

t.test('reconstruct folds a duplicated channel into its twin: the outputs stay the same', async (t) => {
  const twin = convChain();
  const w = floatInit(twin.graph, 'c2.w');
  const b = floatInit(twin.graph, 'c2.b');
  if (!w || !b) throw new Error('fixture changed');
  const per = w.data.length / 6;
  w.data.set(w.data.subarray(0, per), 5 * per); // filter 5 := filter 0
  b.data[5] = b.data[0] as number;
  const data = loadDataSource('random:256', modelInputsOf(twin));
  const exact = { ratios: { c2: 0.2 }, channelMultiple: 1 };
  const plain = await pruneStructured(twin, { ...exact, importance: 'reconstruction', data });
  const refit = await pruneStructured(twin, {
    ...exact,
    importance: 'reconstruction',
    data,
    reconstruct: true,
  });
  t.same(refit.report.groups.find((g) => g.name === 'c2')?.kept, 5, 'one channel of c2 removed');
  t.ok((refit.report.fidelity?.cosine ?? 0) > 0.99999, `with the refit: cosine ${refit.report.fidelity?.cosine}`);
  t.ok(
    (plain.report.fidelity?.cosine ?? 1) < (refit.report.fidelity?.cosine ?? 0),
    `without it: ${plain.report.fidelity?.cosine}`,
  );
});

t.test('bad input: a clear, coded error, never a model that computes something else', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'unknown layer',
      '[{"pass":"prune-structured","ratios":{"nope":0.5}}]',
      /^EF_ERR_PRUNE_LAYER: no layer nope .*prunable groups: c1, c2/,
    ],
    [
      'layer whose group cannot be cut',
      '[{"pass":"prune-structured","ratios":{"fc":0.5}}]',
      /^EF_ERR_PRUNE_LAYER: layer fc cannot be pruned: y is a model output/,
    ],
    [
      'unreachable target',
      '[{"pass":"prune-structured","target":{"params":0.01}}]',
      /^EF_ERR_PRUNE_TARGET: no configuration reaches the target/,
    ],
    ['reconstruct alone', '[{"pass":"reconstruct"}]', /^EF_ERR_COMPRESS_FAILED.*put a prune-structured step before it/],
    ['pruning a quantized model', 'int8-static+prune-structured', /^EF_ERR_COMPRESS_FAILED.*already quantized/],
  ];
  for (const [what, recipe, want] of cases) t.match(await codeOf(compressModel(bytes, recipe, { calib })), want, what);
  t.match(
    await codeOf(compressModel(bytes, '[{"pass":"prune-structured","ratio":0.5,"importance":"activation"}]')),
    /^EF_ERR_DATA_SOURCE: pruning with activation importance needs calibration data/,
    'data-driven importance without --calib',
  );
  for (const ratio of [-0.1, 1, Number.NaN])
    t.match(await codeOf(pruneStructured(model, { ratio })), /^EF_ERR_PRUNE_RATIO/, `programmatic ratio ${ratio}`);
  t.match(await codeOf(pruneStructured(model, {})), /^EF_ERR_PRUNE_RATIO: give either ratio/, 'no size given');
  for (const channelMultiple of [0, 2.5, 1000])
    t.match(
      await codeOf(pruneStructured(model, { ratio: 0.25, channelMultiple })),
      /^EF_ERR_PRUNE_RATIO: channelMultiple is/,
      `channel multiple ${channelMultiple}`,
    );
});

t.test('prune-magnitude: sparsity per layer or global, reported with the gzip size', async (t) => {
  const layer = await compressModel(bytes, '[{"pass":"prune-magnitude","sparsity":0.5,"minWeights":0}]', { calib });
  const global = await compressModel(
    bytes,
    '[{"pass":"prune-magnitude","sparsity":0.5,"scope":"global","minWeights":0}]',
    { calib },
  );
  for (const [scope, r] of [
    ['layer', layer],
    ['global', global],
  ] as const) {
    const s = r.report.pruning?.sparsity;
    t.ok(s && s.zeros / s.weights >= 0.49 && s.zeros / s.weights <= 0.52, `${scope}: half the weights are zero`);
    t.equal(s?.gzipBytes, r.report.size.afterGzipBytes, `${scope}: the gzip size is the file's`);
    t.equal(r.report.pruning?.totals.macsAfter, r.report.pruning?.totals.macsBefore, `${scope}: MACs unchanged`);
  }
  const zerosOf = (r: typeof layer, node: string) => r.report.layers.find((l) => l.node === node)?.reason ?? '';
  t.match(zerosOf(layer, 'c1'), /^5\d\.\d% of 216 weights are zero/, 'per layer: each layer loses half');
  t.notSame(zerosOf(global, 'c1'), zerosOf(layer, 'c1'), 'global: one threshold, uneven per layer');
  t.match(
    await codeOf(compressModel(bytes, '[{"pass":"prune-magnitude","sparsity":0.5,"layers":{"nope":0.5}}]')),
    /^EF_ERR_PRUNE_LAYER/,
  );
});
