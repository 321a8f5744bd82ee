/**
 * A full disk under the server's data directory (issue 18 fault suite): a small tmpfs
 * mounted for the test (root only; skipped with the reason otherwise) and filled up. Found:
 * telemetry batches fail whole and are not acknowledged (SQLite's "disk full" is the store
 * failing, never one message refused), an artifact write fails with a clear error and
 * leaves no partial file, the SQLite file passes `integrity_check`, and after space is
 * freed the same windows (resent, as agents do) and the artifact are stored: convergence.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { createArtifactStore } from '@edgefleet/server/deploy/artifact-store';
import { openSqliteStore } from '@edgefleet/server';
import { createTelemetryIngest } from '@edgefleet/server/telemetry/index';
import type { TelemetryAck } from '@edgefleet/shared';
import { recordingLogger } from '../helpers/agent-fixtures.js';
import { createFakeClock } from '../helpers/fake-clock.js';
import { telemetryWindow } from '../helpers/telemetry-fixtures.js';

/** Mounts a tmpfs of `size` at `dir`; returns why not when this process may not. */
function mountSmallDisk(dir: string, size: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err: unknown) {
    return `mount failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Writes zeros into `path` until the disk is full; returns the bytes written. */
function fill(path: string): number {
  const piece = Buffer.alloc(16 * 1024);
  let written = 0;
  for (;;) {
    try {
      writeFileSync(path, piece, { flag: 'a' });
      written += piece.length;
    } catch {
      return written;
    }
  }
}

t.test('a full server data directory: clear failures, nothing corrupted, convergence after', async (t) => {
  // Outside tap's fixture folder: that is removed before teardowns could unmount it.
  const mnt = mkdtempSync(join(tmpdir(), 'edgefleet-full-disk-'));
  const why = mountSmallDisk(mnt, '4m');
  if (why) {
    rmSync(mnt, { recursive: true, force: true });
    t.plan(0, `full-disk fault not run: ${why}`);
    return;
  }
  const store = openSqliteStore({ dataDir: join(mnt, 'server') });
  let closed = false;
  t.teardown(async () => {
    if (!closed) await store.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const { logger } = recordingLogger('warn');
  const acked = new Set<number>();
  const ingest = createTelemetryIngest({
    telemetry: store.repos.telemetry,
    // A held clock: batches are cut only by flush().
    clock: createFakeClock(),
    logger,
    batchSize: 10_000,
    onCommitted: (acks: readonly TelemetryAck[]) => {
      for (const a of acks) for (const s of a.windows) acked.add(s);
    },
  });
  const artifacts = createArtifactStore({
    dataDir: join(mnt, 'server'),
    artifacts: store.repos.artifacts,
    now: () => 1,
  });
  const window = (seq: number) => telemetryWindow('dev-disk', seq, { inferences: seq });
  for (let seq = 0; seq < 10; seq += 1) ingest.accept(window(seq));
  t.equal((await ingest.flush()).windows, 10, 'with room: 10 windows stored');

  const filler = join(mnt, 'filler');
  const filled = fill(filler);
  const late = Array.from({ length: 400 }, (_, i) => 10 + i);
  for (const seq of late) ingest.accept(window(seq));
  const outcome = await ingest.flush();
  t.equal(outcome.windows, 0, 'disk full: the batch stores nothing');
  t.equal(ingest.stats().failedBatches, 1, 'it fails whole (SQLITE_FULL is not one message refused)');
  t.equal(ingest.stats().refused, 0, 'no message was refused for it');
  t.notOk(
    late.some((s) => acked.has(s)),
    'nothing of it is acknowledged, so agents send it again',
  );
  const model = Buffer.alloc(512 * 1024, 7);
  const err = await artifacts.put(model).then(
    () => null,
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  t.equal(err?.code, 'ENOSPC', 'an artifact write fails with ENOSPC');
  t.same(readdirSync(artifacts.dir), [], 'and leaves no partial or temporary file');

  rmSync(filler);
  for (const seq of late) ingest.accept(window(seq)); // the agents' resend
  t.equal((await ingest.flush()).windows, late.length, 'space freed: the resent windows are stored');
  t.ok(
    late.every((s) => acked.has(s)),
    'and acknowledged',
  );
  const layout = await artifacts.put(model);
  t.equal((await artifacts.bytes(layout.sha256)).byteLength, model.length, 'the artifact is stored and verifies');
  t.equal((await store.repos.telemetry.device('dev-disk'))?.windows, 10 + late.length, 'every window once, none twice');
  const path = store.location;
  await store.close();
  closed = true;
  const db = new Database(path, { readonly: true });
  const check = db.pragma('integrity_check', { simple: true });
  db.close();
  t.equal(check, 'ok', 'SQLite integrity_check: ok');
  t.comment(
    `tried: filled a 4 MiB tmpfs (${(filled / 1024).toFixed(0)} KiB of filler), then a 400-window batch and a 512 KiB artifact; ` +
      `found: batch failed whole (${ingest.stats().failedBatches}), ENOSPC for the artifact, no partial file, ` +
      `after freeing ${late.length} windows and the artifact stored, integrity ${check}`,
  );
});
