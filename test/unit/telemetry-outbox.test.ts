import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openOutbox } from '@edgefleet/agent';
import { PROTOCOL_VERSION, type AnyMessage } from '@edgefleet/shared';

/** A heartbeat is the smallest valid message; the outbox stores any message. */
const msg = (seq: number): AnyMessage => ({
  type: 'heartbeat',
  v: PROTOCOL_VERSION,
  deviceId: 'dev-1',
  seq,
  uptimeMs: 0,
  currentModel: null,
  sentAt: seq,
});
const seqs = (entries: ReadonlyArray<{ message: AnyMessage }>) =>
  entries.map((e) => (e.message as { seq: number }).seq);

t.test('entries come out in order and leave only when acknowledged', async (t) => {
  const outbox = openOutbox({ dir: t.testdir(), segmentEntries: 4 });
  for (let i = 0; i < 10; i += 1) outbox.append('telemetry', msg(i));
  t.equal(outbox.pending(), 10);
  t.same(seqs(outbox.peek(3)), [0, 1, 2]);
  t.same(seqs(outbox.peek(3)), [0, 1, 2], 'peek does not remove');
  outbox.ack(outbox.peek(5)[4]?.id ?? -1);
  t.equal(outbox.pending(), 5);
  t.same(seqs(outbox.peek(100)), [5, 6, 7, 8, 9], 'spans segment files');
  outbox.ack(2);
  t.equal(outbox.pending(), 5, 'an old ack changes nothing');
  outbox.ack(outbox.peek(100).at(-1)?.id ?? -1);
  t.equal(outbox.pending(), 0);
  t.same(outbox.peek(10), []);
});

t.test('the entry bound drops the oldest and counts them', async (t) => {
  const outbox = openOutbox({ dir: t.testdir(), maxEntries: 5, segmentEntries: 2 });
  for (let i = 0; i < 12; i += 1) outbox.append('telemetry', msg(i));
  t.equal(outbox.pending(), 5);
  t.equal(outbox.droppedTotal(), 7);
  t.same(seqs(outbox.peek(100)), [7, 8, 9, 10, 11], 'the newest survive, in order');
});

t.test('the byte bound drops whole oldest segments and deletes their files', async (t) => {
  const dir = t.testdir();
  const outbox = openOutbox({ dir, maxBytes: 2_000, segmentEntries: 5 });
  for (let i = 0; i < 60; i += 1) outbox.append('telemetry', msg(i));
  t.ok(outbox.bytes() <= 2_000 + 5 * 200, `bytes on disk stay near the bound (${outbox.bytes()})`);
  t.equal(outbox.droppedTotal() + outbox.pending(), 60, 'every entry is either pending or counted as dropped');
  const left = seqs(outbox.peek(1000));
  t.same(
    left,
    Array.from({ length: left.length }, (_, i) => 60 - left.length + i),
    'what is left is the newest, contiguous',
  );
  t.ok(readdirSync(dir).filter((f) => f.startsWith('seg-')).length <= 4);
});

t.test('survives a restart: pending entries, ack position and drop count', async (t) => {
  const dir = t.testdir();
  const first = openOutbox({ dir, maxEntries: 6, segmentEntries: 4 });
  for (let i = 0; i < 8; i += 1) first.append('telemetry', msg(i));
  first.ack(first.peek(1)[0]?.id ?? -1); // delivers seq 2
  const second = openOutbox({ dir, maxEntries: 6, segmentEntries: 4 });
  t.equal(second.droppedTotal(), 2);
  t.same(seqs(second.peek(100)), [3, 4, 5, 6, 7]);
  const id = second.append('events', msg(8));
  t.equal(id, 8, 'ids continue after the restart');
  t.same(seqs(second.peek(100)), [3, 4, 5, 6, 7, 8]);
  t.equal(second.peek(100).at(-1)?.channel, 'events');
});

t.test('a torn last line (crash mid-append) is discarded, and the next append is intact', async (t) => {
  const dir = t.testdir();
  const outbox = openOutbox({ dir });
  outbox.append('telemetry', msg(0));
  outbox.append('telemetry', msg(1));
  const segment = readdirSync(dir).find((f) => f.startsWith('seg-')) as string;
  appendFileSync(join(dir, segment), '{"id":2,"c":"telem');
  const reopened = openOutbox({ dir });
  t.same(seqs(reopened.peek(10)), [0, 1]);
  reopened.append('telemetry', msg(2));
  t.same(seqs(openOutbox({ dir }).peek(10)), [0, 1, 2]);
});

t.test('bad bounds are programmer errors', async (t) => {
  t.throws(() => openOutbox({ dir: t.testdir(), maxEntries: 0 }), RangeError);
});
