/**
 * The genomes a search starts from (search/seeds.ts): per-layer fastest precisions follow the
 * predictor layer by layer (float convolutions with int8 dense layers where int8 convolutions are
 * the slow ones, as on this project's host), a mix of fp16 and fp32 is not proposed (it is not
 * built), and the mixed-precision combinations come before the uniform single techniques.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadModel } from '@edgefleet/compress/ir/index';
import { createLatencyPredictor, type LatencyTable } from '@edgefleet/compress/search/latency/index';
import { fastestPrecisions, singleTechniques } from '@edgefleet/compress/search/seeds';
import { predictCandidate, type ClassTarget } from '@edgefleet/compress/search/score';
import { createSearchSpace, teacherChainOf, type TeacherChain } from '@edgefleet/compress/search/space';

const teacher = loadModel(readFileSync(new URL('../../models/zoo/mnist-cnn.onnx', import.meta.url)));
const chain = teacherChainOf(teacher) as TeacherChain;
const coefficients = (perMMacMs: number) => ({ perUnitMs: 0.002, perMMacMs, perMElementMs: 0 });
const table: LatencyTable = {
  v: 1,
  source: 'measured',
  host: { cpu: 'test', cores: 1, runtime: 'test', threads: 1 },
  measuredAt: '2026-12-01T00:00:00.000Z',
  callMs: 0.007,
  coefficients: {
    'conv/fp32': coefficients(0.01),
    'conv/fp16': coefficients(0.02),
    'conv/int8': coefficients(0.05),
    'dense/fp32': coefficients(0.01),
    'dense/fp16': coefficients(0.02),
    'dense/int8': coefficients(0.002),
    'pool/fp32': { perUnitMs: 0.002, perMMacMs: 0, perMElementMs: 0.1 },
    'layout/fp32': { perUnitMs: 0.001, perMMacMs: 0, perMElementMs: 0 },
    'boundary/int8': { perUnitMs: 0.0005, perMMacMs: 0, perMElementMs: 0.01 },
  },
  fitMape: 0,
  samples: [],
};
const predictor = createLatencyPredictor(table);

function cls(precisions: string[], factors: ClassTarget['speed']['factors']): ClassTarget {
  return {
    name: 'test',
    precisions,
    speed: { factors },
    power: { idleW: 0, activeW: { fp32: 1, fp16: 1, int8: 1 }, workloadHz: 1 },
    budgets: {},
  };
}

t.test('each layer in its fastest precision: float convolutions, int8 dense layers', async (t) => {
  const target = cls(['fp32', 'int8'], { fp32: 1, int8: 1 });
  const space = createSearchSpace(chain, target.precisions);
  const mixed = fastestPrecisions(space, (c) => predictCandidate(c, predictor, target, 32).deviceP95Ms);
  t.same(mixed?.slice(0, 2), ['fp32', 'fp32'], 'convolutions stay float (int8 convs price 5× here)');
  t.equal(mixed?.[2], 'int8', 'the hidden dense layer is int8 (5× cheaper per MAC)');
  const seeds = singleTechniques(space, mixed);
  const first = space.decode(seeds[0] as number[]);
  t.same(first.precisions, mixed, 'the mixed combination is the first seed');
  t.same(first.downsample, ['strided', 'strided'], 'folded');
  t.same(first.widths, [0.5, 0.5, 0.5], 'at half width');
  t.equal(new Set(seeds.map((g) => g.join())).size, seeds.length, 'no seed twice');
  t.equal(singleTechniques(space).length, seeds.length - 3, 'three mixed seeds ahead of the uniform ones');
});

t.test('fp16 beside fp32 is not proposed (the fp16 pass converts a whole model)', async (t) => {
  // fp16 convolutions are fastest, fp32 dense layers are: a mix the builder refuses.
  const odd: LatencyTable = {
    ...table,
    coefficients: {
      ...table.coefficients,
      'conv/fp16': coefficients(0.001),
      'dense/int8': coefficients(0.05),
      'dense/fp16': coefficients(0.05),
    },
  };
  const target = cls(['fp32', 'fp16', 'int8'], { fp32: 1, fp16: 1, int8: 1 });
  const space = createSearchSpace(chain, target.precisions);
  const p = createLatencyPredictor(odd);
  t.equal(
    fastestPrecisions(space, (c) => predictCandidate(c, p, target, 32).deviceP95Ms),
    undefined,
  );
});
