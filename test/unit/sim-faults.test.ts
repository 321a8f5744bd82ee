/** Simulator faults as scheduled data: effects over time, targeting, folding, validation. */
import t from 'tap';
import { effectsAt, NO_FAULT, parseFaults } from '@edgefleet/simulators';

t.test('thermal throttling ramps linearly to its slowdown, then holds until it ends', async (t) => {
  const [f] = parseFaults([
    {
      kind: 'thermal-throttle',
      target: { deviceClass: 'rpi4' },
      startAt: 1000,
      durationMs: 10_000,
      slowdown: 3,
      rampMs: 4000,
    },
  ]);
  const fx = (at: number) => effectsAt(f ? [f] : [], 'd1', 'rpi4', at);
  t.same(fx(999), NO_FAULT, 'nothing before the start');
  t.equal(fx(1000).slowdown, 1, 'starts at full speed');
  t.ok(fx(1000).throttled, 'throttled from the start');
  t.equal(fx(3000).slowdown, 2, 'halfway through the ramp: halfway to ×3');
  t.equal(fx(5000).slowdown, 3);
  t.equal(fx(9000).slowdown, 3, 'holds after the ramp');
  t.same(fx(11_000), NO_FAULT, 'gone when the duration ends');
  t.same(effectsAt(f ? [f] : [], 'd1', 'jetson-orin', 3000), NO_FAULT, 'another class is untouched');
});

t.test('faults target devices, fold together, and replay identically', async (t) => {
  const faults = parseFaults([
    { kind: 'int8-wrong', target: { deviceIds: ['d2'] }, startAt: 0 },
    { kind: 'disconnect', target: { deviceClass: 'cam' }, startAt: 100, durationMs: 100 },
    { kind: 'clock-skew', target: { deviceIds: ['d2'] }, startAt: 0, skewMs: -500 },
    { kind: 'clock-skew', target: { deviceClass: 'cam' }, startAt: 0, skewMs: 200 },
    { kind: 'slow-link', target: { deviceIds: ['d1'] }, startAt: 0, bytesPerSecond: 1000 },
    { kind: 'crash', target: { deviceIds: ['d1'] }, startAt: 500, durationMs: 10 },
  ]);
  t.match(effectsAt(faults, 'd2', 'cam', 150), {
    int8Accuracy: 0.35,
    online: false,
    skewMs: -300,
    crashed: false,
    linkBytesPerSecond: null,
  });
  t.match(effectsAt(faults, 'd1', 'cam', 250), {
    int8Accuracy: null,
    online: true,
    skewMs: 200,
    linkBytesPerSecond: 1000,
  });
  t.match(effectsAt(faults, 'd1', 'cam', 505), { crashed: true, online: false });
  t.same(
    effectsAt(faults, 'd1', 'cam', 505),
    effectsAt(faults, 'd1', 'cam', 505),
    'pure: the same moment gives the same effects',
  );
});

t.test('bad schedules are refused', async (t) => {
  t.throws(() => parseFaults([{ kind: 'disconnect', target: {}, startAt: 0 }]), 'a target is required');
  t.throws(
    () => parseFaults([{ kind: 'thermal-throttle', target: { deviceClass: 'x' }, startAt: 0, slowdown: 0.5 }]),
    'slowdown below 1',
  );
  t.throws(() => parseFaults([{ kind: 'meteor', target: { deviceClass: 'x' }, startAt: 0 } as never]), 'unknown kind');
});
