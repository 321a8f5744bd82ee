/**
 * The latency predictor against onnxruntime: the units of an int8-static graph (Q/DQ fused away,
 * one quantize at the input, one dequantize at the output), the quick microbenchmark suite fits
 * a valid table with every coefficient non-negative, the predictor orders a width family and
 * pooled vs strided downsampling the way the cost structure demands (deterministic given any
 * fitted table: costs are non-negative), and the cache is reused on this host only. Speed itself
 * is measured by `npm run bench:latency`, never asserted here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  buildNet,
  costUnitsOf,
  createLatencyPredictor,
  latencyTableSchema,
  loadOrMeasureLatencyTable,
  netInPrecision,
  readCachedTable,
  type NetLayer,
  type NetSpec,
} from '@edgefleet/compress/search/latency/index';

t.setTimeout(240_000);

const net = (name: string, widths: [number, number], strided: boolean): NetSpec => {
  const stage = (filters: number): NetLayer[] =>
    strided
      ? [{ kind: 'conv', filters, kernel: 3, stride: 2 }, { kind: 'relu' }]
      : [{ kind: 'conv', filters, kernel: 3, stride: 1 }, { kind: 'relu' }, { kind: 'maxpool', size: 2 }];
  return {
    name,
    input: [1, 28, 28],
    layers: [...stage(widths[0]), ...stage(widths[1]), { kind: 'flatten' }, { kind: 'dense', units: 10 }],
  };
};

t.test('an int8-static graph is priced as int8 convs and dense, converted once in and once out', async (t) => {
  const model = await netInPrecision(net('q', [8, 16], false), 'int8');
  const units = costUnitsOf(model, 1);
  const kinds = units.map((u) => `${u.op}/${u.precision}`);
  t.notOk(
    kinds.some((k) => k.startsWith('other')),
    `no Q/DQ units: ${kinds.join(', ')}`,
  );
  t.same(
    kinds.filter((k) => k.startsWith('conv') || k.startsWith('dense')),
    ['conv/int8', 'conv/int8', 'dense/int8'],
  );
  t.equal(units[0]?.op, 'boundary', 'the float input is quantized');
  t.equal(units.at(-1)?.op, 'boundary', 'the logits are dequantized');
  t.equal(kinds.filter((k) => k === 'boundary/int8').length, 2, 'and nothing in between');
});

t.test('the quick suite fits a table; the predictor orders widths and downsampling consistently', async (t) => {
  const dir = t.testdir();
  const cache = join(dir, 'latency-table.json');
  const first = await loadOrMeasureLatencyTable(cache, { quick: true, rounds: 2, runsPerRound: 5 });
  t.equal(first.from, 'measured');
  t.equal(first.reason, 'no cached table yet');
  const table = first.table;
  t.ok(latencyTableSchema.safeParse(JSON.parse(readFileSync(cache, 'utf8'))).success, 'the cache file is a table');
  t.ok(table.callMs > 0, `a call has a fixed cost (${(table.callMs * 1000).toFixed(1)} µs here)`);
  for (const [k, c] of Object.entries(table.coefficients))
    t.ok(c.perUnitMs >= 0 && c.perMMacMs >= 0 && c.perMElementMs >= 0, `${k} costs are non-negative`);
  t.ok(table.samples.every((s) => s.measuredMs > 0 && s.predictedMs > 0));
  t.ok(Number.isFinite(table.fitMape));

  const predictor = createLatencyPredictor(table);
  for (const batch of [1, 32]) {
    const family = [
      [4, 8],
      [8, 16],
      [16, 32],
      [32, 64],
    ].map((w) => predictor.host(buildNet(net('w', w as [number, number], false)), batch).ms);
    for (let i = 1; i < family.length; i++)
      t.ok((family[i] as number) >= (family[i - 1] as number), `batch ${batch}: wider never predicted faster`);
    const pooled = predictor.host(buildNet(net('p', [16, 32], false)), batch).ms;
    const strided = predictor.host(buildNet(net('s', [16, 32], true)), batch).ms;
    t.ok(strided <= pooled, `batch ${batch}: strided (${strided.toFixed(4)} ms) ≤ conv+pool (${pooled.toFixed(4)} ms)`);
  }
  const speed = { factors: { fp32: 3, int8: 1.5, fp16: 3 } };
  const d = predictor.device(buildNet(net('d', [8, 16], false)), 1, speed);
  t.ok(d !== null && Math.abs(d - 3 * predictor.host(buildNet(net('d', [8, 16], false)), 1).ms) < 1e-9);

  const again = await loadOrMeasureLatencyTable(cache, { quick: true });
  t.equal(again.from, 'cache', 'a second search reads the cache');
  t.same(again.table, table);
});

t.test('a cache from another host or a damaged one is not used, and says why', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'table.json');
  t.match(await readCachedTable(path), { reason: 'no cached table yet' });
  writeFileSync(path, '{not json');
  t.match(await readCachedTable(path), { reason: /is not JSON/ });
  writeFileSync(path, JSON.stringify({ v: 1 }));
  t.match(await readCachedTable(path), { reason: /not a latency table/ });
  const table = {
    v: 1,
    source: 'measured',
    host: { cpu: 'Some Other CPU', cores: 64, runtime: 'onnxruntime-node 0.0.1', threads: 1 },
    measuredAt: '2026-01-01T00:00:00.000Z',
    callMs: 0.01,
    coefficients: {},
    fitMape: 0,
    samples: [],
  };
  writeFileSync(path, JSON.stringify(table));
  t.match(await readCachedTable(path), { reason: /measured on Some Other CPU/ });
  t.match(await readCachedTable(path, table.host), { table: { callMs: 0.01 } });
});
