/**
 * The chunk download's pure steps (agent/src/artifacts/): which chunks the next window asks
 * for, how a received chunk is judged against itself and the signed manifest, and what follows
 * a window. The loop that strings them together runs against a real broker in
 * test/integration/chunk-download.test.ts.
 */
import t from 'tap';
import { afterWindow, planWindow } from '@edgefleet/agent/artifacts/chunk-download';
import { checkChunk } from '@edgefleet/agent/artifacts/chunk-receiver';
import { chunkRange, describeArtifact, MAX_CHUNK_WINDOW, MIN_CHUNK_BYTES, sha256Hex } from '@edgefleet/shared';

t.test(
  'planWindow: the first missing chunk, then up to `window` missing ones within one protocol window',
  async (t) => {
    t.same(planWindow(new Set(), 10, 4), [0, 1, 2, 3]);
    t.same(planWindow(new Set([0, 1, 3]), 10, 4), [2, 4, 5, 6], 'skips what is done');
    t.same(planWindow(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8]), 10, 4), [9], 'the tail');
    const far = new Set(Array.from({ length: MAX_CHUNK_WINDOW - 1 }, (_, i) => i + 1));
    t.same(planWindow(far, 2 * MAX_CHUNK_WINDOW, 4), [0], 'never spans more than one protocol window');
    t.same(planWindow(new Set([0, 1]), 2, 4), [], 'nothing left');
  },
);

t.test('checkChunk: damaged on the way, the wrong size or bytes for the manifest, or ok', async (t) => {
  const bytes = Uint8Array.from({ length: MIN_CHUNK_BYTES * 2 + 10 }, (_, i) => i % 251);
  const artifact = describeArtifact(bytes, MIN_CHUNK_BYTES);
  const chunk = (index: number, data: Uint8Array, chunkSha256 = sha256Hex(data)) => ({ index, data, chunkSha256 });
  const { start, end } = chunkRange(1, MIN_CHUNK_BYTES, bytes.byteLength);
  const good = bytes.subarray(start, end);
  t.equal(checkChunk(chunk(1, good), artifact), 'ok');
  t.equal(checkChunk(chunk(3, good), artifact), 'out-of-range');
  t.equal(checkChunk(chunk(1, good, sha256Hex(Uint8Array.of(1))), artifact), 'damaged', 'its own digest disagrees');
  t.match(checkChunk(chunk(1, good.subarray(1)), artifact), { reason: 'size-mismatch' });
  const wrong = Uint8Array.from(good, (b) => b ^ 1);
  t.match(checkChunk(chunk(1, wrong), artifact), { reason: 'digest-mismatch', detail: /where the manifest says/ });
});

t.test('afterWindow: wait while busy, go on after progress, back off, give up after maxStalls', async (t) => {
  t.same(afterWindow({ nack: { busyMs: 700 }, progressed: false }, 2, 6), { kind: 'wait', ms: 700 });
  t.same(afterWindow({ nack: null, progressed: true }, 5, 6), { kind: 'next' });
  t.same(afterWindow({ nack: null, progressed: false }, 0, 6), { kind: 'back-off', stalls: 1 });
  t.same(afterWindow({ nack: null, progressed: false }, 5, 6), {
    kind: 'give-up',
    stalls: 6,
    reason: 'download-timeout',
  });
  t.same(afterWindow({ nack: 'unknown', progressed: false }, 5, 6), {
    kind: 'give-up',
    stalls: 6,
    reason: 'download-refused',
  });
});
