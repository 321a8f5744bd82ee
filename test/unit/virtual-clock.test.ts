/**
 * The virtual clock the scenarios run on: timers fire only when time is advanced, in time
 * order with ties in the order they were set, cancelled ones never, and time never runs back.
 */
import t from 'tap';
import { createVirtualClock } from '@edgefleet/simulators';

t.test('timers fire in time order, ties in the order set, only when advanced', async (t) => {
  const clock = createVirtualClock(1000);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`z@${clock.now()}`), 0);
  t.same(fired, [], 'nothing fires on its own');
  t.equal(clock.nextAt(), 1000);
  clock.advanceTo(1015);
  t.same(fired, ['z@1000', 'a@1010'], 'due timers ran at their own times');
  t.equal(clock.now(), 1015, 'and the clock stands where it was asked to');
  clock.advanceTo(1020);
  t.same(fired, ['z@1000', 'a@1010', 'b@1020', 'c@1020'], 'equal times keep the order they were set in');
  t.equal(clock.pending(), 0);
  t.equal(clock.nextAt(), null);
});

t.test('a timer set while firing runs in the same advance when it is due; cancelled timers never run', async (t) => {
  const clock = createVirtualClock(0);
  const fired: number[] = [];
  const tick = () => {
    fired.push(clock.now());
    if (fired.length < 5) clock.setTimeout(tick, 100);
  };
  clock.setTimeout(tick, 100);
  const cancelled = clock.setTimeout(() => fired.push(-1), 250);
  clock.clearTimeout(cancelled);
  clock.clearTimeout(cancelled);
  t.equal(clock.pending(), 1, 'a cancelled timer is no longer pending (cancelling twice is harmless)');
  clock.advanceTo(350);
  t.same(fired, [100, 200, 300], 'a periodic timer re-armed from its own callback');
  clock.advanceTo(10_000);
  t.same(fired, [100, 200, 300, 400, 500]);
  t.equal(clock.pending(), 0);
});

t.test('time never runs backwards; odd delays are read as zero', async (t) => {
  const clock = createVirtualClock(500);
  t.throws(() => clock.advanceTo(499), RangeError);
  let at = -1;
  clock.setTimeout(() => {
    at = clock.now();
  }, Number.NaN);
  clock.setTimeout(() => undefined, -50);
  clock.advanceTo(500);
  t.equal(at, 500, 'a NaN delay fires at once');
  t.equal(clock.pending(), 0);
});

t.test('thousands of timers come out sorted (the heap)', async (t) => {
  const clock = createVirtualClock(0);
  const seen: number[] = [];
  let x = 12345;
  for (let i = 0; i < 5000; i += 1) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    clock.setTimeout(() => seen.push(clock.now()), x % 100_000);
  }
  clock.advanceTo(100_000);
  t.equal(seen.length, 5000);
  t.ok(
    seen.every((v, i) => i === 0 || (seen[i - 1] as number) <= v),
    'fired in non-decreasing time',
  );
});
