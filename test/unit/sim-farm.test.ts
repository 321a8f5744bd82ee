import t from 'tap';
import {
  assignClasses,
  createSeededRandom,
  deriveSeed,
  formatOnlineSummary,
  parseFarmConfig,
  shuffled,
} from '@edgefleet/simulators';

const CLASSES = ['mcu-gateway', 'rpi4', 'jetson-orin'];

t.test('class assignment is fixed by the seed and balanced', async (t) => {
  t.same(
    assignClasses(12, CLASSES, 42),
    [
      'jetson-orin',
      'mcu-gateway',
      'mcu-gateway',
      'rpi4',
      'jetson-orin',
      'jetson-orin',
      'mcu-gateway',
      'jetson-orin',
      'mcu-gateway',
      'rpi4',
      'rpi4',
      'rpi4',
    ],
    'the seed-42 farm never changes',
  );
  t.same(assignClasses(12, CLASSES, 42), assignClasses(12, CLASSES, 42));
  t.notSame(assignClasses(12, CLASSES, 1), assignClasses(12, CLASSES, 42));
  for (const [n, k] of [
    [1, 3],
    [2, 3],
    [20, 3],
    [1000, 3],
    [7, 1],
    [10, 4],
  ] as const) {
    const classes = ['a', 'b', 'c', 'd'].slice(0, k);
    const counts = classes.map((c) => assignClasses(n, classes, 9).filter((x) => x === c).length);
    t.equal(
      counts.reduce((a, b) => a + b, 0),
      n,
    );
    t.ok(
      Math.max(...counts) - Math.min(...counts) <= 1,
      `${n} over ${k}: counts ${counts.join('/')} differ by at most one`,
    );
  }
});

t.test('seeded random: reproducible, in [0, 1), independent streams per label', async (t) => {
  const a = createSeededRandom(1);
  t.same([a(), a(), a()], [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  const r = createSeededRandom(123);
  for (let i = 0; i < 1000; i += 1) {
    const x = r();
    if (x < 0 || x >= 1) t.fail(`out of range: ${x}`);
  }
  t.not(deriveSeed(1, 'sim-1'), deriveSeed(1, 'sim-2'));
  t.equal(deriveSeed(5, 'x'), deriveSeed(5, 'x'));
  const items = [1, 2, 3, 4, 5, 6];
  const s = shuffled(items, createSeededRandom(3));
  t.same([...s].sort(), items, 'a permutation');
  t.same(items, [1, 2, 3, 4, 5, 6], 'input untouched');
});

t.test('farm options: defaults, string flags, problems with their paths', async (t) => {
  const c = parseFarmConfig({ devices: '20', classes: 'rpi4, jetson-orin', seed: '3' });
  t.same(
    { devices: c.devices, classes: c.classes, seed: c.seed, brokerUrl: c.brokerUrl, idPrefix: c.idPrefix },
    { devices: 20, classes: ['rpi4', 'jetson-orin'], seed: 3, brokerUrl: 'mqtt://127.0.0.1:1883', idPrefix: 'sim' },
  );
  t.same(parseFarmConfig({}).classes, CLASSES);
  t.ok(Object.isFrozen(c));
  let caught: unknown;
  try {
    parseFarmConfig({ devices: 'many', classes: 'rpi4,toaster', brokerUrl: 'http://x', extra: 1 });
  } catch (err: unknown) {
    caught = err;
  }
  t.match(caught, { code: 'EF_ERR_CONFIG_INVALID' });
  const problems = (caught as { details: { problems: string[] } }).details.problems.join('\n');
  t.match(problems, /^devices:/m);
  t.match(problems, /^classes: unknown device class; known classes: mcu-gateway, rpi4, jetson-orin/m);
  t.match(problems, /^brokerUrl:/m);
  t.match(problems, /extra/);
});

t.test('progress line', async (t) => {
  t.equal(formatOnlineSummary({ a: 1, b: 2 }, { a: 3, b: 2 }), 'online 3/5 · a 1/3 · b 2/2');
  t.equal(formatOnlineSummary({}, { a: 3 }), 'online 0/3 · a 0/3');
});
