/** Download slots on an injected clock: the bound, fairness, expiry, and the predicted wait told to queued devices. */
import t from 'tap';
import { createDownloadSlots } from '@edgefleet/server/deploy/download-slots';

t.test('at most max devices hold a slot; a freed slot goes to the head of the queue', async (t) => {
  const slots = createDownloadSlots({ max: 2 });
  t.equal(slots.acquire('a', 0), null);
  t.equal(slots.acquire('b', 0), null);
  t.equal(slots.acquire('a', 10), null, 'a holder asking again keeps its slot');
  t.type(slots.acquire('c', 20), 'number', 'c queues');
  t.type(slots.acquire('d', 30), 'number', 'd queues behind c');
  slots.release('a', 100);
  t.type(slots.acquire('d', 110), 'number', 'd may not jump the queue');
  t.equal(slots.acquire('c', 120), null, 'the head of the queue gets the freed slot');
  t.match(slots.stats(), { active: 2, queued: 1, busyReplies: 3 });
});

t.test('silent holders and queue places expire', async (t) => {
  const slots = createDownloadSlots({ max: 1, idleMs: 1000 });
  t.equal(slots.acquire('a', 0), null);
  const wait = slots.acquire('b', 0);
  t.type(wait, 'number');
  t.equal(slots.acquire('b', 999), 500, 'a still holds its slot, b still waits');
  t.equal(slots.acquire('b', 1000), null, 'a was silent for idleMs: its slot goes to b');
  t.equal(slots.stats().meanHoldMs, 0, 'an expired slot counts as held until its last request');
  // c queues, goes silent past its wait and idleMs; d, arriving later, is not kept behind it.
  const cWait = slots.acquire('c', 1100) ?? 0;
  slots.release('b', 1200);
  t.equal(slots.acquire('d', 1100 + 1000 + 2 * cWait), null, 'c lost its place');
  t.equal(slots.stats().queued, 0);
});

t.test('before any slot was released, the wait grows by one base wait per round of slots', async (t) => {
  const slots = createDownloadSlots({ max: 2, retryAfterMs: 500 });
  slots.acquire('a', 0);
  slots.acquire('b', 0);
  const waits = ['c', 'd', 'e', 'f', 'g'].map((id) => slots.acquire(id, 0));
  t.same(waits, [500, 500, 1000, 1000, 1500]);
});

t.test('after releases, the wait is predicted from the mean hold time and when each slot began', async (t) => {
  const slots = createDownloadSlots({ max: 2, minRetryMs: 1, maxRetryMs: 60_000 });
  // Two holds of 1000 ms measured.
  slots.acquire('x', 0);
  slots.acquire('y', 0);
  slots.release('x', 1000);
  slots.release('y', 1000);
  t.equal(slots.stats().meanHoldMs, 1000);
  slots.acquire('a', 2000); // frees at about 3000
  slots.acquire('b', 2400); // frees at about 3400
  const now = 2500;
  // [device, expected wait]: c waits for a's slot, d for b's; e and f, a round further
  // back, are told one mean hold and asked again then.
  const table: Array<[string, number]> = [
    ['c', 500],
    ['d', 900],
    ['e', 1000],
    ['f', 1000],
  ];
  for (const [id, expected] of table) t.equal(slots.acquire(id, now), expected, `${id} waits ${expected} ms`);
});

t.test('predicted waits stay within the configured bounds', async (t) => {
  const slots = createDownloadSlots({ max: 1, idleMs: 100_000, minRetryMs: 100, maxRetryMs: 2000 });
  slots.acquire('x', 0);
  slots.release('x', 10_000);
  slots.acquire('a', 10_000); // expected to free at about 20 000
  t.equal(slots.acquire('b', 10_001), 2000, 'a long way off: capped at the longest wait');
  t.equal(slots.acquire('c', 10_001), 2000, 'a round further back: one mean hold, capped too');
  t.equal(slots.acquire('b', 25_000), 100, 'a slot overdue: the shortest wait, not a negative one');
});

t.test('invalid options are programmer errors', async (t) => {
  t.throws(() => createDownloadSlots({ max: 0 }), RangeError);
  t.throws(() => createDownloadSlots({ max: 1.5 }), RangeError);
  t.throws(() => createDownloadSlots({ minRetryMs: 0 }), RangeError);
  t.throws(() => createDownloadSlots({ minRetryMs: 5000, maxRetryMs: 1000 }), RangeError);
});
