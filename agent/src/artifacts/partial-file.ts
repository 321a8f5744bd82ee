/**
 * The part file of an artifact being downloaded chunk by chunk, and the bitmap that says
 * which of its chunks are durable [EF-PROTO 6.4]. Chunks are written as they arrive; `flush`
 * makes the ones written since the last flush durable with one datasync and only then lists
 * them in the bitmap, so the bitmap never names a chunk a crash could have lost. On the next
 * attempt (after a disconnect, an agent restart or a server restart) the chunks the bitmap
 * lists and that still hash right are kept; a torn write is dropped and fetched again.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { chunkRange, sha256Hex, transferSizeOf, type ManifestBody } from '@edgefleet/shared/device';
import * as z from 'zod';
import { writeFileAtomic, type ArtifactStore } from './store.js';

/** `<sha>.chunks.json`: the chunks of `<sha>.part` that were synced to disk. */
const persistedBitmapSchema = z.object({
  sha256: z.string(),
  chunkSize: z.number().int().positive(),
  done: z.array(z.number().int().nonnegative()),
});
type PersistedBitmap = z.infer<typeof persistedBitmapSchema>;

type Artifact = ManifestBody['artifact'];

export interface PartialFile {
  /** Chunks verified and written (durable or waiting for the next flush). */
  readonly done: ReadonlySet<number>;
  /** Chunks kept from an earlier attempt. */
  readonly resumed: number;
  /** Chunks written by this attempt. */
  written(): number;
  /** Queues the write of a verified chunk; resolves when it is written (a chunk already done is skipped). */
  write(index: number, data: Uint8Array): Promise<void>;
  /** Waits for queued writes, syncs what they wrote, then records it in the bitmap. */
  flush(): Promise<void>;
  /** Flushes what it can (what is verified is kept for the next attempt) and closes the file. */
  close(): Promise<void>;
}

/** Opens (or resumes) the part file of `artifact` in `store`. */
export async function openPartialFile(store: ArtifactStore, artifact: Artifact): Promise<PartialFile> {
  const { sha256, chunkSize } = artifact;
  const done = await resumableChunks(store, artifact);
  const resumed = done.size;
  const file: FileHandle = await open(store.partPath(sha256), resumed > 0 ? 'r+' : 'w+');
  const synced = new Set(done);
  let unsynced: number[] = [];
  let writes: Promise<void> = Promise.resolve();
  let written = 0;

  async function flush(): Promise<void> {
    await writes;
    if (unsynced.length === 0) return;
    // A chunk written after the sync began waits for the next flush.
    const batch = unsynced;
    unsynced = [];
    // One datasync per window instead of per chunk: ~2 fsyncs per window rather than per chunk.
    await file.datasync();
    for (const index of batch) synced.add(index);
    const bitmap: PersistedBitmap = { sha256, chunkSize, done: [...synced].sort((a, b) => a - b) };
    await writeFileAtomic(store.bitmapPath(sha256), JSON.stringify(bitmap));
  }

  return {
    done,
    resumed,
    written: () => written,
    write(index, data) {
      const { start } = chunkRange(index, chunkSize, transferSizeOf(artifact));
      writes = writes.then(async () => {
        if (done.has(index)) return;
        await file.write(data, 0, data.byteLength, start);
        done.add(index);
        unsynced.push(index);
        written += 1;
      });
      return writes;
    },
    flush,
    async close() {
      await flush().catch(() => undefined);
      await file.close();
    },
  };
}

/** Chunks the bitmap lists AND that still hash right in the part file; none when either is missing or unreadable. */
async function resumableChunks(store: ArtifactStore, artifact: Artifact): Promise<Set<number>> {
  const { sha256, chunkSize, chunks } = artifact;
  const size = transferSizeOf(artifact);
  let listed: readonly number[];
  let part: Buffer;
  try {
    const bitmap = persistedBitmapSchema.parse(JSON.parse(await readFile(store.bitmapPath(sha256), 'utf8')));
    if (bitmap.sha256 !== sha256 || bitmap.chunkSize !== chunkSize) return new Set();
    listed = bitmap.done;
    part = await readFile(store.partPath(sha256));
  } catch {
    // No earlier attempt, or its files are damaged: start from nothing.
    return new Set();
  }
  const done = new Set<number>();
  for (const index of listed) {
    if (index >= chunks.length) continue;
    const { start, end } = chunkRange(index, chunkSize, size);
    if (end <= part.byteLength && sha256Hex(part.subarray(start, end)) === chunks[index]) done.add(index);
  }
  return done;
}
