/**
 * The server's scheduler on an injected virtual clock: interval and cron tasks run when the
 * clock says so, a run still in progress makes the next one skip (noOverlap), failures are
 * counted and never escape, and stop() waits for runs in flight. node-cron supplies the cron
 * language and matcher; the clock supplies time.
 */
import t from 'tap';
import { pino } from 'pino';
import { createVirtualClock } from '@edgefleet/simulators';
import { createScheduler, cronEvery, nextCronMatch } from '@edgefleet/server/schedule/scheduler';

const START = 1_800_000_000_000; // a whole minute (and so a whole 30 s)
const silent = pino({ level: 'silent' });

t.test('an interval task runs on the grid of its period, only when the clock moves', async (t) => {
  const clock = createVirtualClock(START);
  const scheduler = createScheduler({ clock, logger: silent });
  const runs: number[] = [];
  scheduler.add({ name: 'every-second', schedule: { everyMs: 1000 }, run: (at) => void runs.push(at - START) });
  scheduler.start();
  t.same(runs, [], 'nothing runs before time moves');
  for (const to of [START + 1000, START + 2000, START + 3500]) {
    clock.advanceTo(to);
    await scheduler.idle();
  }
  t.same(runs, [1000, 2000, 3000]);
  t.match(scheduler.tasks(), [{ name: 'every-second', runs: 3, overlaps: 0, failures: 0, nextRunAt: START + 4000 }]);
  clock.advanceTo(START + 6500);
  await scheduler.idle();
  t.same(runs, [1000, 2000, 3000, 4000], 'a jump over three due times runs once: the others came due while it ran');
  t.match(scheduler.tasks(), [{ runs: 4, overlaps: 2 }]);
  await scheduler.stop();
  clock.advanceTo(START + 10_000);
  t.same(runs, [1000, 2000, 3000, 4000], 'nothing runs after stop');
});

t.test('a cron task runs on the matching seconds of the injected clock', async (t) => {
  const clock = createVirtualClock(START);
  const scheduler = createScheduler({ clock, logger: silent });
  const runs: number[] = [];
  scheduler.add({ name: 'tick', schedule: { cron: cronEvery(30) }, run: (at) => void runs.push((at - START) / 1000) });
  scheduler.start();
  for (let to = START + 5000; to <= START + 95_000; to += 5000) {
    clock.advanceTo(to);
    await scheduler.idle();
  }
  t.same(runs, [30, 60, 90], 'every 30 s of virtual time');
  await scheduler.stop();
});

t.test('a run still in progress makes the next due run skip (noOverlap); failures are counted', async (t) => {
  const clock = createVirtualClock(START);
  const scheduler = createScheduler({ clock, logger: silent });
  let release: () => void = () => undefined;
  let started = 0;
  scheduler.add({
    name: 'slow',
    schedule: { everyMs: 1000 },
    run: () => {
      started += 1;
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  });
  let calls = 0;
  scheduler.add({
    name: 'failing',
    schedule: { everyMs: 1000 },
    run: () => {
      calls += 1;
      throw new Error('boom');
    },
  });
  scheduler.start();
  for (const to of [START + 1000, START + 2000, START + 3000]) {
    clock.advanceTo(to);
    await new Promise((r) => setImmediate(r));
  }
  t.equal(started, 1, 'the slow task ran once; its next two runs came due while it ran');
  release();
  await scheduler.idle();
  t.match(scheduler.tasks(), [
    { name: 'slow', runs: 1, overlaps: 2, running: false },
    { name: 'failing', runs: 3, failures: 3 },
  ]);
  t.equal(calls, 3, 'a failing task keeps its schedule');
  clock.advanceTo(START + 4000);
  await new Promise((r) => setImmediate(r));
  t.equal(started, 2, 'free again, the slow task runs at its next due time');
  const stopping = scheduler.stop();
  let stopped = false;
  void stopping.then(() => {
    stopped = true;
  });
  await new Promise((r) => setImmediate(r));
  t.notOk(stopped, 'stop() waits for the run in flight');
  release();
  await stopping;
  t.ok(stopped);
});

t.test('bad schedules and duplicate names are refused', async (t) => {
  const scheduler = createScheduler({ clock: createVirtualClock(START), logger: silent });
  t.throws(() => scheduler.add({ name: 'x', schedule: { everyMs: 0 }, run: () => undefined }), RangeError);
  t.throws(() => scheduler.add({ name: 'y', schedule: { cron: 'not cron' }, run: () => undefined }), RangeError);
  scheduler.add({ name: 'z', schedule: { everyMs: 10 }, run: () => undefined });
  t.throws(() => scheduler.add({ name: 'z', schedule: { everyMs: 10 }, run: () => undefined }), /already scheduled/);
  t.throws(() => cronEvery(0), RangeError);
  t.equal(cronEvery(30), '*/30 * * * * *');
  t.equal(cronEvery(120), '0 */2 * * * *');
  t.equal(
    nextCronMatch(() => false, START),
    null,
    'no match within a day',
  );
  await scheduler.stop();
});
