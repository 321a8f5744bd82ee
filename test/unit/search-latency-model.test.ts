/**
 * The latency cost model's pure parts: the units a graph is priced by (fused activations, pool
 * reads, MACs), non-negative least squares, and device scaling by speed factors and a
 * telemetry correction. The measured side (microbenchmarks, cache) is in
 * test/integration/search-latency.test.ts.
 */
import t from 'tap';
import {
  buildNet,
  costUnitsOf,
  featureNames,
  featureRow,
  netShapes,
  predictDeviceMs,
  predictHostMs,
  relativeNnls,
  mape,
  type LatencyTable,
} from '@edgefleet/compress/search/latency/index';

const spec = {
  name: 'small',
  input: [1, 28, 28],
  layers: [
    { kind: 'conv', filters: 8, kernel: 3, stride: 1 },
    { kind: 'relu' },
    { kind: 'maxpool', size: 2 },
    { kind: 'conv', filters: 16, kernel: 3, stride: 2 },
    { kind: 'relu' },
    { kind: 'flatten' },
    { kind: 'dense', units: 10 },
  ],
} as const;

t.test('a float graph: Relu fused into its conv, pool priced by what it reads, MACs per batch', async (t) => {
  t.same(netShapes(spec), [[8, 28, 28], [8, 28, 28], [8, 14, 14], [16, 7, 7], [16, 7, 7], [784], [10]]);
  const units = costUnitsOf(buildNet(spec), 2);
  t.same(
    units.map((u) => [u.op, u.precision]),
    [
      ['conv', 'fp32'],
      ['pool', 'fp32'],
      ['conv', 'fp32'],
      ['layout', 'fp32'],
      ['dense', 'fp32'],
    ],
  );
  const [c1, pool, c2, , fc] = units;
  t.equal(c1?.macs, 2 * 8 * 28 * 28 * 9, 'conv1: batch × Cout × H × W × Cin·k²');
  t.equal(pool?.elements, 2 * 8 * 28 * 28, 'the pool reads its whole input');
  t.equal(c2?.macs, 2 * 16 * 7 * 7 * 8 * 9, 'a stride-2 conv computes a quarter of the positions');
  t.equal(fc?.macs, 2 * 784 * 10);
});

t.test('a precision override prices float layers as int8, with boundaries where precision changes', async (t) => {
  const units = costUnitsOf(buildNet(spec), 1, (n) => (n.opType === 'Conv' ? 'int8' : undefined));
  t.same(
    units.map((u) => `${u.op}/${u.precision}`),
    [
      'boundary/int8',
      'conv/int8',
      'boundary/int8',
      'pool/fp32',
      'boundary/int8',
      'conv/int8',
      'boundary/int8',
      'layout/fp32',
      'dense/fp32',
    ],
  );
  t.equal(units[0]?.elements, 28 * 28, 'the input is quantized once');
});

t.test('relative NNLS recovers non-negative costs and clamps what would be negative', async (t) => {
  // y = 2 + 3·a + 0·b exactly; an unconstrained fit of noisy data could go negative on b.
  const rows = [
    [1, 1, 0],
    [1, 2, 1],
    [1, 5, 2],
    [1, 9, 1],
  ];
  const y = rows.map((r) => 2 + 3 * (r[1] as number));
  const fit = relativeNnls(rows, y);
  t.ok(Math.abs((fit.x[0] as number) - 2) < 1e-6);
  t.ok(Math.abs((fit.x[1] as number) - 3) < 1e-6);
  t.ok((fit.x[2] as number) >= 0 && (fit.x[2] as number) < 1e-6);
  const clamped = relativeNnls(
    [[1], [2]],
    [1, 2].map((v) => v),
  );
  t.ok(Math.abs((clamped.x[0] as number) - 1) < 1e-9);
  const negative = relativeNnls(
    [
      [1, 1],
      [1, 2],
    ],
    [3, 2],
  );
  t.ok(
    negative.x.every((v) => v >= 0),
    'a falling trend gives a zero slope, not a negative one',
  );
  t.throws(() => relativeNnls([[1]], [0]), /positive/);
  t.equal(mape([110, 90], [100, 100]), 10);
  t.equal(mape([], []), 0);
});

const table: Pick<LatencyTable, 'callMs' | 'coefficients'> = {
  callMs: 0.01,
  coefficients: {
    'conv/fp32': { perUnitMs: 0.005, perMMacMs: 0.1, perMElementMs: 0 },
    'conv/int8': { perUnitMs: 0.01, perMMacMs: 0.05, perMElementMs: 0 },
    'dense/fp32': { perUnitMs: 0.002, perMMacMs: 0.1, perMElementMs: 0 },
    'pool/fp32': { perUnitMs: 0.002, perMMacMs: 0, perMElementMs: 1 },
    'boundary/int8': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 2 },
  },
};

t.test('host prediction sums the call and every unit; kinds never measured are named', async (t) => {
  const units = costUnitsOf(buildNet(spec), 1);
  const p = predictHostMs(table, units);
  const conv1 = 0.005 + (0.1 * 8 * 28 * 28 * 9) / 1e6;
  const conv2 = 0.005 + (0.1 * 16 * 7 * 7 * 8 * 9) / 1e6;
  const pool = 0.002 + (8 * 28 * 28) / 1e6;
  const fc = 0.002 + (0.1 * 7840) / 1e6;
  t.ok(Math.abs(p.ms - (0.01 + conv1 + conv2 + pool + fc)) < 1e-12);
  t.same(p.unpriced, ['l5.flatten (layout/fp32)']);
  t.equal(featureRow(units).length, featureNames().length);
});

t.test('device latency: each precision at its factor, the call at fp32, times the correction', async (t) => {
  const p = predictHostMs(
    table,
    costUnitsOf(buildNet(spec), 1, (n) => (n.opType === 'Conv' ? 'int8' : undefined)),
  );
  const fp32 = p.byPrecision.fp32 ?? 0;
  const int8 = p.byPrecision.int8 ?? 0;
  t.ok(int8 > 0 && fp32 > 0);
  const d = predictDeviceMs(p, { factors: { fp32: 4, int8: 2 } });
  t.ok(Math.abs((d ?? 0) - (0.01 * 4 + fp32 * 4 + int8 * 2)) < 1e-12);
  const corrected = predictDeviceMs(p, { factors: { fp32: 4, int8: 2 }, correction: 1.5 });
  t.ok(Math.abs((corrected ?? 0) - (d ?? 0) * 1.5) < 1e-12);
  t.equal(predictDeviceMs(p, { factors: { fp32: 4 } }), null, 'a class without int8 cannot run it');
  t.equal(predictDeviceMs(p, { factors: { int8: 1 } }), null, 'nor without an fp32 factor');
});
