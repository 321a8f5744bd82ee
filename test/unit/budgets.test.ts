import t from 'tap';
import { z } from 'zod';
import {
  budgetsSchema,
  deviceClassInputSchema,
  speedModelOverrideSchema,
  PRECISIONS,
  precisionSchema,
} from '@edgefleet/shared';
import { BUILTIN_CLASS_PROFILES, parseBuiltinProfiles } from '@edgefleet/server/plan/profiles/builtin';

const messageOf = (schema: z.ZodType, value: unknown): string => {
  const r = schema.safeParse(value);
  return r.success ? '' : z.prettifyError(r.error);
};

t.test('budgets refuse bad values with messages that say what is wrong', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'negative latency',
      { maxP95LatencyMs: -5 },
      /maxP95LatencyMs must be greater than 0 ms \(a latency cannot be negative\)/,
    ],
    ['zero size', { maxModelBytes: 0 }, /maxModelBytes must be greater than 0/],
    ['fractional bytes', { maxModelBytes: 10.5 }, /whole number of bytes/],
    ['min accuracy above 100', { minAccuracyPct: 101 }, /minAccuracyPct is a percentage and cannot be above 100/],
    ['negative drop', { maxAccuracyDropPts: -1 }, /maxAccuracyDropPts cannot be negative/],
    ['both accuracy budgets', { minAccuracyPct: 90, maxAccuracyDropPts: 1 }, /not both/],
    ['unknown budget', { maxLatency: 3 }, /maxLatency/],
    ['latency as text', { maxP95LatencyMs: '5' }, /maxP95LatencyMs must be a number/],
  ];
  for (const [name, value, re] of cases) t.match(messageOf(budgetsSchema, value), re, name);
  t.same(budgetsSchema.parse({}), {}, 'no budgets is valid: nothing can fail');
  t.same(budgetsSchema.parse({ maxP95LatencyMs: 20, minAccuracyPct: 95 }), { maxP95LatencyMs: 20, minAccuracyPct: 95 });
});

t.test('a class naming an unknown precision is refused with the known ones listed', async (t) => {
  const rpi = BUILTIN_CLASS_PROFILES.get('rpi4');
  t.ok(rpi);
  const bad = { ...rpi, capabilities: { ...rpi?.capabilities, precisions: ['fp32', 'bf16'] } };
  t.match(messageOf(deviceClassInputSchema, bad), /unknown precision "bf16": use one of fp32, fp16, int8, int4/);
  const noFactor = { ...rpi, capabilities: { ...rpi?.capabilities, precisions: ['fp32', 'fp16'] } };
  t.match(messageOf(deviceClassInputSchema, noFactor), /executes fp16 but its speed model has no fp16 factor/);
  t.match(
    messageOf(deviceClassInputSchema, {
      ...rpi,
      speedModel: { version: 'x', factors: { fp32: -1, int8: 1, int4: 1 } },
    }),
    /a speed factor must be greater than 0/,
  );
});

t.test('the precision lists agree between the protocol and the class schemas', async (t) => {
  t.same([...PRECISIONS], precisionSchema.options);
});

t.test('built-in profiles: four classes, valid, every group of figures sourced', async (t) => {
  t.same([...BUILTIN_CLASS_PROFILES.keys()].sort(), ['jetson-orin', 'mcu-gateway', 'phone-npu', 'rpi4']);
  for (const [name, c] of BUILTIN_CLASS_PROFILES) {
    t.ok(c.sources.capabilities, `${name}: capabilities sourced`);
    t.ok(c.sources.powerModel, `${name}: power model sourced`);
    for (const p of c.capabilities.precisions)
      t.ok(c.sources[`speedModel.factors.${p}`], `${name}: ${p} speed factor sourced`);
    t.equal(c.powerModel.label, 'modelled');
  }
  const mcu = BUILTIN_CLASS_PROFILES.get('mcu-gateway');
  t.same(mcu?.capabilities.precisions, ['int8'], 'the MCU class executes int8 only');
  t.ok((mcu?.budgets.maxModelBytes ?? Infinity) <= 1_048_576, 'the MCU class has a ~1 MB model budget');
  t.same(BUILTIN_CLASS_PROFILES.get('phone-npu')?.capabilities.precisions, ['fp32', 'fp16', 'int8']);
  t.throws(() => parseBuiltinProfiles({ classes: [mcu, mcu] }), /appears twice/);
  t.throws(() => parseBuiltinProfiles({ classes: [] }), TypeError);
});

t.test('a speed-model override needs a positive ratio', async (t) => {
  t.match(messageOf(speedModelOverrideSchema, { ratio: 0 }), /greater than 0/);
  t.same(speedModelOverrideSchema.parse({ ratio: 2 }), { ratio: 2, label: 'override' });
});
