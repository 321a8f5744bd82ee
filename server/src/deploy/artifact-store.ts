/**
 * The server's artifact store: model files content-addressed as
 * `<dataDir>/artifacts/<sha256>.onnx` (the planner's variant builds write there too), with
 * each artifact's chunk layout [EF-PROTO 6.3] kept in the store so large files are hashed
 * once. Writes go to a temp file, are fsynced and renamed, so a crash never leaves a torn
 * artifact under its final name.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeArtifact, EdgefleetError, MAX_CHUNK_BYTES, sha256Hex, type ArtifactLayout } from '@edgefleet/shared';
import type { ArtifactRepository } from '../store/artifacts.js';

/** Folder under the data directory holding artifacts. */
export const ARTIFACTS_DIR = 'artifacts';

export interface ArtifactStoreOptions {
  readonly dataDir: string;
  readonly artifacts: ArtifactRepository;
  readonly now: () => number;
  /** Chunk size of new layouts, bytes. Default 131072 (128 KiB, the protocol's maximum). */
  readonly chunkSize?: number;
  /** Bytes of artifacts kept in memory for the chunk server. Default 268435456 (256 MiB). */
  readonly cacheBytes?: number;
}

export interface ServerArtifactStore {
  readonly dir: string;
  /** Stores bytes (idempotent) and returns their layout. */
  put(bytes: Uint8Array): Promise<ArtifactLayout>;
  /** Layout of a stored artifact (computed and recorded on first use); throws EF_ERR_ARTIFACT_NOT_FOUND. */
  layout(sha256: string): Promise<ArtifactLayout>;
  /**
   * Whole file, from a bounded LRU cache (the chunk server reads it per window); a miss
   * reads the file once however many callers wait for it. The same Buffer is returned
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

  async function record(layout: ArtifactLayout): Promise<ArtifactLayout> {
    await options.artifacts.put({
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
    async put(bytes) {
      const sha = sha256Hex(bytes);
      const known = await options.artifacts.get(sha);
      const final = pathOf(sha);
      if (!known || !(await this.has(sha))) {
        const tmp = join(dir, `.${sha}.${randomBytes(4).toString('hex')}.tmp`);
        const handle = await open(tmp, 'w', 0o644);
        try {
          await handle.writeFile(bytes);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, final).catch(async (err: unknown) => {
          await rm(tmp, { force: true });
          throw err;
        });
      }
      return known ? this.layout(sha) : record(describeArtifact(bytes, chunkSize));
    },
    async layout(sha) {
      const row = await options.artifacts.get(sha);
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
        readStored(sha)
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
