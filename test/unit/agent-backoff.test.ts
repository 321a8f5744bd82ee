import t from 'tap';
import { backoffDelay, DEFAULT_BACKOFF, validateBackoff, type BackoffPolicy } from '@edgefleet/agent';

const policy: BackoffPolicy = { initialMs: 100, factor: 2, maxMs: 1_000, jitter: 0.5 };

t.test('exponential steps with equal jitter, capped', async (t) => {
  // random 0 → lower edge (half the step), random 1 → the full step.
  const table: Array<[attempt: number, random: number, expected: number]> = [
    [0, 0, 50],
    [0, 1, 100],
    [0, 0.5, 75],
    [1, 0, 100],
    [1, 1, 200],
    [2, 0.25, 250],
    [3, 1, 800],
    [4, 1, 1_000],
    [4, 0, 500], // 1 600 capped at 1 000
    [40, 1, 1_000], // no overflow to Infinity/NaN
  ];
  for (const [attempt, r, expected] of table) {
    t.equal(
      backoffDelay(attempt, policy, () => r),
      expected,
      `attempt ${attempt}, random ${r}`,
    );
  }
});

t.test('the same random sequence gives the same schedule', async (t) => {
  const seq = (values: number[]) => {
    let i = 0;
    return () => values[i++ % values.length] as number;
  };
  const a = seq([0.1, 0.9, 0.4, 0.7, 0.2]);
  const b = seq([0.1, 0.9, 0.4, 0.7, 0.2]);
  const schedule = (r: () => number) => Array.from({ length: 8 }, (_, i) => backoffDelay(i, DEFAULT_BACKOFF, r));
  const first = schedule(a);
  t.same(schedule(b), first);
  t.same(first, [275, 950, 1400, 3400, 4800, 8800, 28500, 21000]);
});

t.test('jitter 0 is plain exponential; out-of-range random is clamped', async (t) => {
  const p = { ...policy, jitter: 0 };
  t.same(
    [0, 1, 2, 3, 4].map((a) => backoffDelay(a, p, Math.random)),
    [100, 200, 400, 800, 1000],
  );
  t.equal(
    backoffDelay(0, policy, () => 7),
    100,
  );
  t.equal(
    backoffDelay(0, policy, () => -1),
    50,
  );
});

t.test('bad policies are programmer errors', async (t) => {
  t.throws(() => validateBackoff({ ...policy, initialMs: 0 }), RangeError);
  t.throws(() => validateBackoff({ ...policy, factor: 0.5 }), RangeError);
  t.throws(() => validateBackoff({ ...policy, maxMs: 10 }), RangeError);
  t.throws(() => validateBackoff({ ...policy, jitter: 2 }), RangeError);
  t.ok(Object.isFrozen(validateBackoff(policy)));
});
