/**
 * The search space over a real teacher (the committed mnist-cnn): the chain it reads, the genes
 * it offers for a class, what genomes decode to (pruned teacher vs strided/shallower students,
 * per-layer precision), and the scoring before training: predicted size against real files,
 * device latency and energy per precision from a class's factors, budget excess as constraints.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { builtinProfiles } from '@edgefleet/shared';
import { compressModel } from '@edgefleet/compress/compress-model';
import { loadModel, writeModel } from '@edgefleet/compress/ir/index';
import {
  buildNet,
  createLatencyPredictor,
  randomBatch,
  type LatencyTable,
} from '@edgefleet/compress/search/latency/index';
import { createSearchSpace, teacherChainOf, type TeacherChain } from '@edgefleet/compress/search/space';
import {
  budgetViolation,
  predictCandidate,
  predictSizeBytes,
  type ClassTarget,
} from '@edgefleet/compress/search/score';

const teacherBytes = readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url));
const chain = teacherChainOf(loadModel(teacherBytes)) as TeacherChain;

t.test('mnist-cnn reads as a plain chain; other graphs are refused with the node', async (t) => {
  t.type(chain, 'object');
  t.same(
    chain.layers.map((l) => l.kind),
    ['conv', 'relu', 'maxpool', 'conv', 'relu', 'maxpool', 'flatten', 'dense', 'relu', 'dense'],
  );
  t.same(chain.input, [1, 28, 28]);
  const m = buildNet({
    name: 'g',
    input: [4, 7, 7],
    layers: [{ kind: 'globalpool' }, { kind: 'flatten' }, { kind: 'dense', units: 3 }],
  });
  t.match(teacherChainOf(m), /GlobalAveragePool\) is not part of a plain chain/);
});

t.test('genes per class; genomes decode to pruned teachers and students', async (t) => {
  const all = createSearchSpace(chain, ['fp32', 'fp16', 'int8', 'int4']);
  t.same(
    all.genes.map((g) => g.name.split(':')[0]),
    [
      'family',
      'width',
      'width',
      'width',
      'downsample',
      'downsample',
      'dropDense',
      'precision',
      'precision',
      'precision',
      'precision',
    ],
  );
  t.same(all.precisions, ['fp32', 'fp16', 'int8'], 'int4 is not a compute precision the search assigns');
  const mcu = createSearchSpace(chain, ['int8']);
  t.equal(mcu.genes.find((g) => g.name.startsWith('precision'))?.cardinality, 1);
  t.throws(() => createSearchSpace(chain, ['int4']), { code: 'EF_ERR_SEARCH_OPTIONS' });

  const teacher = all.decode(all.encode({}));
  t.equal(teacher.family, 'pruned');
  t.same(
    teacher.net.layers.map((l) => l.kind),
    ['conv', 'relu', 'maxpool', 'conv', 'relu', 'maxpool', 'flatten', 'dense', 'relu', 'dense'],
  );
  t.same(teacher.pruneRatios, {});
  t.equal(teacher.studentSpec, 'arch:c8,p2,c16,p2,d64');

  const pruned = all.decode(
    all.encode({ widths: [0.5, 0.25, 0.125], downsample: ['strided', 'strided'], dropDense: 1 }),
  );
  t.same(pruned.downsample, ['strided', 'strided'], 'a pruned teacher may fold its pools into strides');
  t.equal(pruned.dropDense, 0, 'but keeps its layers');
  t.same(
    pruned.pruneRatios,
    { 'l0.conv': 0.5, 'l2.conv': 0.75, 'l5.gemm': 0.875 },
    'conv1 keeps a multiple of 4 channels (conv2 reads them), as the pruning pass will',
  );
  t.equal(pruned.studentSpec, 'arch:c4s2,c4s2,d8');
  t.same(
    all.encode({ widths: [0.5, 0.25, 0.125], downsample: ['strided', 'strided'], dropDense: 1 }),
    all.encode({ widths: [0.5, 0.25, 0.125], downsample: ['strided', 'strided'] }),
    'one canonical genome',
  );
  const narrow = all.decode(all.encode({ widths: [0.125, 0.125, 0.125] }));
  t.same(
    narrow.pruneRatios,
    { 'l0.conv': 0.5, 'l2.conv': 0.875, 'l5.gemm': 0.875 },
    'a Conv-read group never drops below one multiple; a dense-read one keeps its fine steps',
  );
  t.same(all.decode(all.encode({ widths: [0.75, 1, 1] })).pruneRatios, {}, '6 of 8 rounds back to all 8');

  const student = all.decode(
    all.encode({
      family: 'student',
      widths: [0.5, 0.5, 1],
      downsample: ['strided', 'pool'],
      dropDense: 1,
      precisions: ['int8', 'int8', 'fp32', 'fp16'],
    }),
  );
  t.equal(student.studentSpec, 'arch:c4s2,c8,p2');
  t.same(
    student.net.layers.map((l) =>
      l.kind === 'conv' ? `c${l.filters}s${l.stride}` : l.kind === 'dense' ? `d${l.units}` : l.kind,
    ),
    ['c4s2', 'relu', 'c8s1', 'relu', 'maxpool', 'flatten', 'd10'],
  );
  t.same(
    [...student.precisionByNode.entries()],
    [
      ['l0.conv', 'int8'],
      ['l2.conv', 'int8'],
      ['l6.gemm', 'fp16'],
    ],
    'the dropped dense layer takes its precision gene with it',
  );
  t.throws(() => all.encode({ widths: [0.3] }), /not one of/);
  t.throws(() => mcu.encode({ precisions: ['fp32'] }), /does not execute fp32/);
});

t.test('predicted size is close to the real file, float and int8-static', async (t) => {
  const space = createSearchSpace(chain, ['fp32', 'int8']);
  const teacher = space.decode(space.encode({}));
  const fp32 = predictSizeBytes(teacher);
  t.equal(fp32.params, 8 * 9 + 8 + 16 * 8 * 9 + 16 + 784 * 64 + 64 + 64 * 10 + 10);
  t.ok(
    Math.abs(fp32.bytes / teacherBytes.length - 1) < 0.05,
    `fp32: ${fp32.bytes} predicted vs ${teacherBytes.length} bytes`,
  );
  const int8 = space.decode(space.encode({ precisions: ['int8', 'int8', 'int8', 'int8'] }));
  const calib = {
    source: 'random',
    count: 8,
    inputs: { input: { dtype: 'float32' as const, dims: [8, 1, 28, 28], data: randomBatch([1, 28, 28], 8) } },
  };
  const real = await compressModel(writeModel(buildNet(int8.net)), 'int8-static', { calib });
  const predicted = predictSizeBytes(int8).bytes;
  t.ok(
    Math.abs(predicted / real.bytes.length - 1) < 0.15,
    `int8: ${predicted} predicted vs ${real.bytes.length} bytes`,
  );
});

const table: LatencyTable = {
  v: 1,
  source: 'measured',
  host: { cpu: 'test', cores: 1, runtime: 'test', threads: 1 },
  measuredAt: '2026-12-01T00:00:00.000Z',
  callMs: 0.01,
  coefficients: {
    'conv/fp32': { perUnitMs: 0.005, perMMacMs: 0.1, perMElementMs: 0 },
    'conv/int8': { perUnitMs: 0.008, perMMacMs: 0.05, perMElementMs: 0 },
    'dense/fp32': { perUnitMs: 0.002, perMMacMs: 0.1, perMElementMs: 0 },
    'dense/int8': { perUnitMs: 0.003, perMMacMs: 0.04, perMElementMs: 0 },
    'pool/fp32': { perUnitMs: 0.002, perMMacMs: 0, perMElementMs: 1 },
    'layout/fp32': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 0 },
    'boundary/int8': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 2 },
  },
  fitMape: 0,
  samples: [],
};

function target(name: string, override: Partial<ClassTarget['budgets']> = {}): ClassTarget {
  const spec = builtinProfiles().get(name);
  if (!spec) throw new Error(name);
  return {
    name,
    precisions: spec.capabilities.precisions,
    speed: { factors: spec.speedModel.factors },
    power: spec.powerModel,
    budgets: { ...spec.budgets, ...override },
  };
}

t.test('device latency and energy per precision from the class; budgets become violations', async (t) => {
  const predictor = createLatencyPredictor(table);
  const space = createSearchSpace(chain, ['fp32', 'fp16', 'int8']);
  const fp32 = space.decode(space.encode({}));
  const int8 = space.decode(space.encode({ precisions: ['int8', 'int8', 'int8', 'int8'] }));
  const rpi = target('rpi4');
  const a = predictCandidate(fp32, predictor, rpi);
  t.ok(Math.abs((a.deviceP95Ms ?? 0) - a.hostMs * 12.5) < 1e-9, 'all fp32: host × the fp32 factor');
  t.ok(Math.abs((a.energyMj ?? 0) - (a.deviceP95Ms ?? 0) * 6.4) < 1e-9, 'energy = active watts × time');
  const b = predictCandidate(int8, predictor, { ...rpi, speed: { ...rpi.speed, correction: 2 } });
  t.ok((b.deviceP95Ms ?? 0) > 0 && (b.energyMj ?? 0) < (b.deviceP95Ms ?? 0) * 6.4, 'int8 time at int8 watts');
  const mcu = predictCandidate(fp32, predictor, target('mcu-gateway'));
  t.equal(mcu.deviceP95Ms, null, 'an int8-only class cannot run fp32 layers');
  t.same(budgetViolation({ ...mcu, sizeBytes: 10 }, { maxP95LatencyMs: 1 }), {
    violation: 1,
    broken: ['maxP95LatencyMs'],
  });
  const v = budgetViolation(
    { sizeBytes: 2000, deviceP95Ms: 5, energyMj: 1, avgPowerW: 1, accuracyPct: 97 },
    { maxModelBytes: 1000, maxP95LatencyMs: 10, maxAccuracyDropPts: 1 },
    99,
  );
  t.equal(v.broken.join(','), 'maxModelBytes,accuracy');
  t.ok(Math.abs(v.violation - (1 + (3 / 2 - 1))) < 1e-9, 'size 2x over (+1), error 3 where 2 allowed (+0.5)');
  t.same(
    budgetViolation(
      { sizeBytes: 1, deviceP95Ms: 1, energyMj: 1, avgPowerW: 1, accuracyPct: 99 },
      { minAccuracyPct: 98 },
    ),
    { violation: 0, broken: [] },
  );
});
