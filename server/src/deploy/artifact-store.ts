/**
 * The server's artifact store: model files content-addressed as
 * `<dataDir>/artifacts/<sha256>.onnx` (the planner's variant builds write there too), with
 * each artifact's chunk layout [EF-PROTO 6.3] kept in the store so large files are hashed
 * once. Writes go to a temp file, are fsynced and renamed, so a crash never leaves a torn
 * artifact under its final name.
 *
 * A file can still be damaged after it was written (a disk error, an operator's editor), so
 * the digest is checked where it matters: `put` hashes what is on disk and rewrites it from
 * the bytes offered when it does not match (re-adding a model repairs it), and `bytes` (what
 * the chunk server and the HTTP route serve) refuses a file whose digest is not its name.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeArtifact, EdgefleetError, MAX_CHUNK_BYTES, sha256Hex, type ArtifactLayout } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { RolloutTables } from '../store/rollout-tables.js';

/** Folder under the data directory holding artifacts. */
export const ARTIFACTS_DIR = 'artifacts';

export interface ArtifactStoreOptions {
  readonly dataDir: string;
  readonly tables: RolloutTables;
  readonly now: () => number;
  /** Chunk size of new layouts, bytes. Default 131072 (128 KiB, the protocol's maximum). */
  readonly chunkSize?: number;
  /** Bytes of artifacts kept in memory for the chunk server. Default 268435456 (256 MiB). */
  readonly cacheBytes?: number;
  /** Told (warn) when a stored file is found damaged and when `put` repairs one. */
  readonly logger?: Logger;
}

/** What `put` found on disk before it wrote. */
export type PutOutcome = 'written' | 'unchanged' | 'repaired';

export interface ServerArtifactStore {
  readonly dir: string;
  /**
   * Stores bytes and returns their layout. Idempotent: an intact stored copy is left alone, a
   * missing or damaged one is (re)written from `bytes`; `onStored` says which happened.
   */
  put(bytes: Uint8Array, onStored?: (outcome: PutOutcome) => void): Promise<ArtifactLayout>;
  /** Layout of a stored artifact (computed and recorded on first use); throws EF_ERR_ARTIFACT_NOT_FOUND. */
  layout(sha256: string): Promise<ArtifactLayout>;
  /**
   * Whole file, from a bounded LRU cache (the chunk server reads it per window); a miss
   * reads the file once however many callers wait for it and checks its digest, so a
   * damaged file is never served (EF_ERR_ARTIFACT_INTEGRITY). The same Buffer is returned
   * until the artifact is evicted, so callers may memoize per buffer.
   */
  bytes(sha256: string): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
  /** sha256 of every stored file whose name starts with `prefix` (variant lookup by prefix). */
  find(prefix: string): string[];
  pathOf(sha256: string): string;
}

const SHA_RE = /^[0-9a-f]{64}$/;

/** Opens (creating the folder of) the artifact store. */
export function createArtifactStore(options: ArtifactStoreOptions): ServerArtifactStore {
  const dir = join(resolve(options.dataDir), ARTIFACTS_DIR);
  mkdirSync(dir, { recursive: true });
  const chunkSize = options.chunkSize ?? MAX_CHUNK_BYTES;
  const cacheLimit = options.cacheBytes ?? 256 * 1024 * 1024;
  const cache = new Map<string, Buffer>();
  const loading = new Map<string, Promise<Buffer>>();
  let cached = 0;
  const pathOf = (sha: string): string => {
    if (!SHA_RE.test(sha))
      throw new EdgefleetError(
        'EF_ERR_ARTIFACT_NOT_FOUND',
        `not an artifact id: ${JSON.stringify(sha.slice(0, 80))}; artifacts are named by 64 hex digits of sha256`,
      );
    return join(dir, `${sha}.onnx`);
  };

  function remember(sha: string, buf: Buffer): void {
    if (buf.byteLength > cacheLimit) return;
    // A hit re-inserts its entry: count its bytes once, or every hit inflates the total until
    // the artifact evicts itself and each later request re-reads the file.
    const old = cache.get(sha);
    if (old) cached -= old.byteLength;
    cache.delete(sha);
    cache.set(sha, buf);
    cached += buf.byteLength;
    // Least recently used first: Map keeps insertion order and a hit re-inserts.
    for (const [key, value] of cache) {
      if (cached <= cacheLimit) break;
      cache.delete(key);
      cached -= value.byteLength;
    }
  }

  async function readStored(sha: string): Promise<Buffer> {
    try {
      return await readFile(pathOf(sha));
    } catch (err: unknown) {
      if (err instanceof EdgefleetError) throw err;
      throw new EdgefleetError(
        'EF_ERR_ARTIFACT_NOT_FOUND',
        `artifact ${sha} is not in ${dir}; upload the model or build the variant first`,
        { sha256: sha },
        { cause: err },
      );
    }
  }

  /** The stored file, only if its digest is its name [serve-side check]. */
  async function readVerified(sha: string): Promise<Buffer> {
    const buf = await readStored(sha);
    const actual = sha256Hex(buf);
    if (actual === sha) return buf;
    options.logger?.warn({ sha256: sha, actual }, 'stored artifact is damaged; refusing to serve it');
    throw new EdgefleetError(
      'EF_ERR_ARTIFACT_INTEGRITY',
      `artifact file ${pathOf(sha)} hashes to ${actual}, not its name; store the model again (edgefleet model add, or rollout start --model) to repair it`,
      { sha256: sha, actual },
    );
  }

  /** Whether an intact copy of `sha` is on disk: `missing`, `damaged` or `intact`. */
  async function onDisk(sha: string): Promise<'missing' | 'damaged' | 'intact'> {
    let buf: Buffer;
    try {
      buf = await readFile(pathOf(sha));
    } catch {
      return 'missing';
    }
    return sha256Hex(buf) === sha ? 'intact' : 'damaged';
  }

  async function writeAtomic(sha: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(dir, `.${sha}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const handle = await open(tmp, 'w', 0o644);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, pathOf(sha));
    } catch (err: unknown) {
      // A full disk leaves no half-written temp file behind, and nothing under the final name.
      await rm(tmp, { force: true });
      throw err;
    }
  }

  function record(layout: ArtifactLayout): ArtifactLayout {
    options.tables.putArtifact({
      sha256: layout.sha256,
      size: layout.size,
      chunkSize: layout.chunkSize,
      chunks: layout.chunks,
      createdAt: options.now(),
    });
    return layout;
  }

  return {
    dir,
    pathOf,
    async put(bytes, onStored) {
      const sha = sha256Hex(bytes);
      const known = options.tables.getArtifact(sha);
      const found = await onDisk(sha);
      if (found === 'damaged')
        options.logger?.warn({ sha256: sha }, 'stored artifact was damaged; repairing it from the bytes offered');
      if (found !== 'intact') {
        await writeAtomic(sha, bytes);
        // A cached buffer was verified when it was read, but drop it so the next read sees the new file.
        const old = cache.get(sha);
        if (old) {
          cache.delete(sha);
          cached -= old.byteLength;
        }
      }
      onStored?.(found === 'intact' ? 'unchanged' : found === 'damaged' ? 'repaired' : 'written');
      return known ? this.layout(sha) : record(describeArtifact(bytes, chunkSize));
    },
    async layout(sha) {
      const row = options.tables.getArtifact(sha);
      if (row)
        return {
          sha256: row.sha256,
          size: row.size,
          chunkSize: row.chunkSize,
          chunkCount: row.chunks.length,
          chunks: row.chunks,
        };
      const bytes = await readStored(sha);
      const layout = describeArtifact(bytes, chunkSize);
      if (layout.sha256 !== sha) {
        throw new EdgefleetError(
          'EF_ERR_ARTIFACT_INTEGRITY',
          `artifact file ${pathOf(sha)} hashes to ${layout.sha256}, not its name; delete it and store the model again`,
          { sha256: sha },
        );
      }
      remember(sha, bytes);
      return record(layout);
    },
    async bytes(sha) {
      const hit = cache.get(sha);
      if (hit) {
        remember(sha, hit);
        return hit;
      }
      // Concurrent misses (a rollout's first windows) share one read instead of one each.
      const pending =
        loading.get(sha) ??
        readVerified(sha)
          .then((buf) => {
            remember(sha, buf);
            return buf;
          })
          .finally(() => loading.delete(sha));
      loading.set(sha, pending);
      return pending;
    },
    async has(sha) {
      try {
        const handle = await open(pathOf(sha), 'r');
        await handle.close();
        return true;
      } catch {
        return false;
      }
    },
    find(prefix) {
      const p = prefix.toLowerCase();
      return readdirSync(dir)
        .filter((f) => f.endsWith('.onnx') && f.startsWith(p))
        .map((f) => f.slice(0, -'.onnx'.length))
        .filter((s) => SHA_RE.test(s));
    },
  };
}
