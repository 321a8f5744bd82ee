/**
 * Pull-based, resumable chunk download over MQTT [EF-PROTO 6.4]. The agent asks for a window
 * of missing chunks, checks each chunk against the signed manifest and writes it into
 * `<sha>.part`; when the window is over (complete, timed out or refused) it makes the
 * window's chunks durable with one datasync, records them in the persisted bitmap, and only
 * then asks for the next window. Chunks recorded in the bitmap are never fetched again,
 * after a disconnect, an agent restart or a server restart; a crash loses at most the
 * chunks of the window in flight, which are fetched again.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import {
  chunkRange,
  encodeWindowBitmap,
  isEdgefleetError,
  MAX_CHUNK_WINDOW,
  PROTOCOL_VERSION,
  sha256Hex,
  type Chunk,
  type ChunkNack,
  type ChunkRequest,
  type ManifestBody,
} from '@edgefleet/shared';
import { backoffDelay, validateBackoff, type BackoffPolicy } from '../link/backoff.js';
import type { Clock, RandomSource } from '../link/clock.js';
import { stepFailure } from './failure.js';
import type { ArtifactStore } from './store.js';
import { writeFileAtomic } from './store.js';

/** How the downloader talks to the server: publish a request, hear chunk replies. */
export interface ChunkTransport {
  /** Publishes on `chunk-req`; rejects with EF_ERR_LINK_OFFLINE while offline. */
  request(request: ChunkRequest): Promise<void>;
  /** Receives every `chunk` and `chunk-nack` for this device; returns an unsubscribe. */
  listen(handler: (message: Chunk | ChunkNack) => void): () => void;
}

export interface ChunkDownloadOptions {
  readonly deviceId: string;
  readonly store: ArtifactStore;
  readonly transport: ChunkTransport;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Chunks per request, 1–32. Default 8. */
  readonly windowChunks?: number;
  /** How long to wait for a window's chunks before asking again, in ms. Default 10 000. */
  readonly windowTimeoutMs?: number;
  /** Windows in a row without progress before giving up. Default 6. */
  readonly maxStalls?: number;
  /** Backoff between stalled windows and while offline. Default 500 ms ×2 up to 15 s, jitter 0.5. */
  readonly backoff?: BackoffPolicy;
  /** Times one chunk may arrive well-formed but not matching the manifest before the artifact is refused. Default 3. */
  readonly maxMismatchesPerChunk?: number;
  readonly signal?: AbortSignal;
}

export interface DownloadCounts {
  readonly total: number;
  readonly fetched: number;
  readonly reused: number;
  readonly corrupt: number;
}

const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, factor: 2, maxMs: 15_000, jitter: 0.5 });

interface PersistedBitmap {
  readonly sha256: string;
  readonly chunkSize: number;
  readonly done: readonly number[];
}

/** Chunks of the partial file that the bitmap lists AND that still hash right (a torn write is dropped). */
async function resumeDone(store: ArtifactStore, body: ManifestBody): Promise<Set<number>> {
  const { sha256, size, chunkSize, chunks } = body.artifact;
  let listed: readonly number[] = [];
  try {
    const bitmap = JSON.parse(await readFile(store.bitmapPath(sha256), 'utf8')) as PersistedBitmap;
    if (bitmap.sha256 === sha256 && bitmap.chunkSize === chunkSize) listed = bitmap.done;
  } catch {
    return new Set();
  }
  let part: Buffer;
  try {
    part = await readFile(store.partPath(sha256));
  } catch {
    return new Set();
  }
  const done = new Set<number>();
  for (const index of listed) {
    if (!Number.isInteger(index) || index < 0 || index >= chunks.length) continue;
    const { start, end } = chunkRange(index, chunkSize, size);
    if (end <= part.byteLength && sha256Hex(part.subarray(start, end)) === chunks[index]) done.add(index);
  }
  return done;
}

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Downloads the manifest's artifact into the store (or finds it there) and returns how many
 * chunks came over the network vs from disk. Throws a step failure (see failure.ts) on a
 * timeout, a refusal, or bytes that do not match the signed manifest.
 */
export async function downloadChunks(body: ManifestBody, options: ChunkDownloadOptions): Promise<DownloadCounts> {
  const { store, clock, signal } = options;
  const { sha256, size, chunkSize, chunkCount, chunks } = body.artifact;
  if (await store.has(sha256)) return { total: chunkCount, fetched: 0, reused: chunkCount, corrupt: 0 };
  const window = Math.min(MAX_CHUNK_WINDOW, Math.max(1, options.windowChunks ?? 8));
  const timeoutMs = options.windowTimeoutMs ?? 10_000;
  const maxStalls = options.maxStalls ?? 6;
  const maxMismatches = options.maxMismatchesPerChunk ?? 3;
  const backoff = validateBackoff(options.backoff ?? DEFAULT_BACKOFF);

  const done = await resumeDone(store, body);
  const counts = { total: chunkCount, fetched: 0, reused: done.size, corrupt: 0 };
  const mismatches = new Map<number, number>();
  let fatal: Error | null = null;
  let nackWaitMs = 0;
  // The last refusal (not `busy`), for the failure's detail; an object so TS sees the handler's writes.
  const refusal: { last: ChunkNack | null } = { last: null };
  let wake: (() => void) | null = null;
  let writes: Promise<void> = Promise.resolve();
  const file: FileHandle = await open(store.partPath(sha256), done.size > 0 ? 'r+' : 'w+');

  // Written and verified, but not yet made durable: the next flush syncs and records them.
  let unsynced: number[] = [];
  const synced = new Set(done);

  /**
   * Ends a window on disk: one datasync for all of its chunks, then the bitmap, which lists
   * only synced chunks (a chunk written after the sync began waits for the next flush).
   * Syncing per window instead of per chunk turns ~2 fsyncs per chunk into 2 per window.
   */
  async function flushWindow(): Promise<void> {
    await writes;
    if (unsynced.length === 0) return;
    const batch = unsynced;
    unsynced = [];
    await file.datasync();
    for (const index of batch) synced.add(index);
    await writeFileAtomic(
      store.bitmapPath(sha256),
      JSON.stringify({ sha256, chunkSize, done: [...synced].sort((a, b) => a - b) } satisfies PersistedBitmap),
    );
  }

  function noteMismatch(index: number, reason: 'digest-mismatch' | 'size-mismatch', detail: string): void {
    const n = (mismatches.get(index) ?? 0) + 1;
    mismatches.set(index, n);
    if (n >= maxMismatches)
      fatal = stepFailure(
        'verify',
        reason,
        `chunk ${index}: ${detail} (${n} times); the server's artifact does not match the signed manifest`,
      );
  }

  function handleChunk(message: Chunk): void {
    if (message.sha256 !== sha256 || message.index >= chunkCount || done.has(message.index)) return;
    const { data } = message;
    const { start, end } = chunkRange(message.index, chunkSize, size);
    const actual = sha256Hex(data);
    if (actual !== message.chunkSha256) {
      // Damaged on the way: the message disagrees with itself. Ask again.
      counts.corrupt += 1;
    } else if (data.byteLength !== end - start) {
      counts.corrupt += 1;
      noteMismatch(
        message.index,
        'size-mismatch',
        `${data.byteLength} bytes where the manifest implies ${end - start}`,
      );
    } else if (actual !== chunks[message.index]) {
      counts.corrupt += 1;
      noteMismatch(
        message.index,
        'digest-mismatch',
        `sha256 ${actual.slice(0, 12)}… where the manifest says ${chunks[message.index]?.slice(0, 12)}…`,
      );
    } else {
      writes = writes.then(async () => {
        if (done.has(message.index)) return;
        await file.write(data, 0, data.byteLength, start);
        done.add(message.index);
        unsynced.push(message.index);
        counts.fetched += 1;
      });
    }
    // A failed write surfaces where the loop awaits `writes`; here it only must not go unhandled.
    writes.then(
      () => wake?.(),
      () => wake?.(),
    );
  }

  function handleNack(message: ChunkNack): void {
    nackWaitMs = message.reason === 'busy' ? Math.max(message.retryAfterMs ?? 1000, 1) : -1;
    if (message.reason !== 'busy') refusal.last = message;
    wake?.();
  }

  const unlisten = options.transport.listen((message) => {
    if (message.deploymentId !== body.deploymentId) return;
    if (message.type === 'chunk') handleChunk(message);
    else handleNack(message);
  });

  /** Resolves when every wanted chunk is done, something fatal happened, a nack came, or the timeout passed. */
  function waitWindow(wanted: readonly number[]): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clock.clearTimeout(timer);
        wake = null;
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const timer = clock.setTimeout(finish, timeoutMs);
      wake = () => {
        if (fatal || nackWaitMs !== 0 || wanted.every((i) => done.has(i))) finish();
      };
      signal?.addEventListener('abort', finish, { once: true });
      wake();
    });
  }

  let requestId = 0;
  let stalls = 0;
  let offlineAttempt = 0;
  try {
    while (done.size < chunkCount) {
      if (signal?.aborted) throw stepFailure('download', 'superseded', 'a newer manifest replaced this deployment');
      if (fatal) throw fatal;
      const first = [...Array(chunkCount).keys()].find((i) => !done.has(i)) ?? 0;
      const count = Math.min(MAX_CHUNK_WINDOW, chunkCount - first);
      const wanted: number[] = [];
      for (let i = first; i < first + count && wanted.length < window; i += 1) if (!done.has(i)) wanted.push(i);
      const spanEnd = (wanted[wanted.length - 1] ?? first) + 1;
      const request: ChunkRequest = {
        type: 'chunk-req',
        v: PROTOCOL_VERSION,
        deviceId: options.deviceId,
        deploymentId: body.deploymentId,
        sha256,
        requestId: requestId++,
        offset: first,
        count: spanEnd - first,
        bitmap: encodeWindowBitmap(first, wanted, spanEnd - first),
        sentAt: clock.now(),
      };
      try {
        await options.transport.request(request);
        offlineAttempt = 0;
      } catch (err: unknown) {
        if (!isEdgefleetError(err, 'EF_ERR_LINK_OFFLINE')) throw err;
        // Offline is not a stall: wait for the link, however long it takes.
        await sleep(clock, backoffDelay(offlineAttempt++, backoff, options.random), signal);
        continue;
      }
      const before = done.size;
      nackWaitMs = 0;
      await waitWindow(wanted);
      await flushWindow();
      if (fatal) throw fatal;
      if (nackWaitMs > 0) {
        await sleep(clock, nackWaitMs, signal);
        continue;
      }
      if (done.size > before) {
        stalls = 0;
        continue;
      }
      stalls += 1;
      if (stalls >= maxStalls) {
        const why =
          nackWaitMs < 0
            ? `the server refused the download (${refusal.last?.reason ?? 'unknown'}: ${refusal.last?.detail ?? 'no detail'})`
            : `no chunk arrived in ${stalls} windows of ${timeoutMs} ms`;
        throw stepFailure(
          'download',
          nackWaitMs < 0 ? 'download-refused' : 'download-timeout',
          `${why}; ${done.size}/${chunkCount} chunks are kept on disk for the next attempt`,
        );
      }
      await sleep(clock, backoffDelay(stalls - 1, backoff, options.random), signal);
    }
  } finally {
    unlisten();
    // Keep what a superseded or failed attempt already verified, for the next attempt.
    await flushWindow().catch(() => undefined);
    await file.close();
  }
  await verifyAndAdopt(body, store);
  return counts;
}

/** Checks size and whole-file digest of the finished part file, then moves it into the store. */
async function verifyAndAdopt(body: ManifestBody, store: ArtifactStore): Promise<void> {
  const { sha256, size } = body.artifact;
  const bytes = await readFile(store.partPath(sha256));
  if (bytes.byteLength !== size) {
    await store.discardPartial(sha256);
    throw stepFailure('verify', 'size-mismatch', `downloaded ${bytes.byteLength} bytes, the manifest says ${size}`);
  }
  const actual = sha256Hex(bytes);
  if (actual !== sha256) {
    await store.discardPartial(sha256);
    throw stepFailure('verify', 'digest-mismatch', `artifact hashes to ${actual}, the manifest says ${sha256}`);
  }
  await store.adopt(sha256, store.partPath(sha256));
  await store.discardPartial(sha256);
}
