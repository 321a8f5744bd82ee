/**
 * The server's artifact store as the chunk server uses it, on real files and a real SQLite
 * store: `bytes()` serves repeated windows from its bounded cache instead of re-reading the
 * file, evicts least recently used artifacts past its bound, and shares one read between
 * concurrent misses.
 */
import t, { type Test } from 'tap';
import { rm } from 'node:fs/promises';
import { openSqliteStore } from '@edgefleet/server';
import { createArtifactStore } from '@edgefleet/server/deploy/index';

const SIZE = 64 * 1024;
const bytesOf = (seed: number): Buffer => Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 7 + seed) & 0xff));

function open(t: Test, cacheBytes: number) {
  const dataDir = t.testdir();
  const store = openSqliteStore({ dataDir });
  t.teardown(() => store.close());
  return createArtifactStore({ dataDir, artifacts: store.repos.artifacts, now: () => 0, cacheBytes });
}

t.test('repeated requests are served from the cache, not the file', async (t) => {
  const artifacts = open(t, 3 * SIZE);
  const { sha256 } = await artifacts.put(bytesOf(1));
  const first = await artifacts.bytes(sha256);
  // Far more hits than the bound holds copies: a hit must not count the artifact again.
  let same = 0;
  for (let i = 0; i < 200; i += 1) if ((await artifacts.bytes(sha256)) === first) same += 1;
  t.equal(same, 200, 'the same buffer every time');
  await rm(artifacts.pathOf(sha256));
  t.equal(await artifacts.bytes(sha256), first, 'still served after the file is gone: no re-read');
});

t.test('the cache is bounded and evicts the least recently used artifact', async (t) => {
  const artifacts = open(t, Math.floor(2.5 * SIZE));
  const [a, b, c] = await Promise.all([1, 2, 3].map((seed) => artifacts.put(bytesOf(seed))));
  if (!a || !b || !c) throw new Error('put failed');
  await artifacts.bytes(a.sha256);
  await artifacts.bytes(b.sha256);
  await artifacts.bytes(a.sha256); // a is now more recent than b
  await artifacts.bytes(c.sha256); // over the bound: b goes
  await Promise.all([a, b, c].map((x) => rm(artifacts.pathOf(x.sha256))));
  t.ok((await artifacts.bytes(a.sha256)).equals(bytesOf(1)), 'a (recently used) kept');
  t.ok((await artifacts.bytes(c.sha256)).equals(bytesOf(3)), 'c (newest) kept');
  await t.rejects(
    artifacts.bytes(b.sha256),
    { code: 'EF_ERR_ARTIFACT_NOT_FOUND' },
    'b was evicted and must be read again',
  );
});

t.test('concurrent misses share one read', async (t) => {
  const artifacts = open(t, 4 * SIZE);
  const { sha256 } = await artifacts.put(bytesOf(4));
  const all = await Promise.all(Array.from({ length: 20 }, () => artifacts.bytes(sha256)));
  t.ok(
    all.every((b) => b === all[0]),
    'one buffer for all 20 callers',
  );
});
