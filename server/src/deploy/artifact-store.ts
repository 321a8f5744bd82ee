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
import {
  describeArtifact,
  EdgefleetError,
  encodingPays,
  gzipArtifact,
  MAX_CHUNK_BYTES,
  sha256Hex,
  transferSizeOf,
  type ArtifactLayout,
} from '@edgefleet/shared';
import type { ArtifactRepository, ArtifactRow } from '../store/artifacts.js';

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
  /**
   * `auto` (default): an artifact travels gzip-encoded when that saves at least an eighth of its
   * bytes [EF-PROTO 6.3]; `identity`: always as it is (for fleets with agents older than encoding).
   */
  readonly encoding?: 'auto' | 'identity';
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
  /** The bytes that travel: the encoded file when the layout has an encoding, else the model (same cache). */
  transferBytes(sha256: string): Promise<Buffer>;
  /** Path of the bytes that travel (the HTTP route streams it). */
  transferPath(sha256: string): Promise<string>;
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
      ...(layout.encoding ? { encoding: layout.encoding, encodedSize: transferSizeOf(layout) } : {}),
    });
    return layout;
  }

  const encodedPathOf = (sha: string): string => `${pathOf(sha)}.gz`;

  async function writeAtomic(final: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
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

  /** The layout of new bytes; an encoding that pays is chosen here and its file written beside the model. */
  async function describe(bytes: Uint8Array): Promise<ArtifactLayout> {
    if (options.encoding === 'identity') return describeArtifact(bytes, chunkSize);
    const gz = gzipArtifact(bytes);
    if (!encodingPays(bytes.byteLength, gz.byteLength)) return describeArtifact(bytes, chunkSize);
    const layout = describeArtifact(bytes, chunkSize, { encoding: 'gzip', bytes: gz });
    await writeAtomic(encodedPathOf(layout.sha256), gz);
    return layout;
  }

  function fromRow(row: ArtifactRow): ArtifactLayout {
    return {
      sha256: row.sha256,
      size: row.size,
      chunkSize: row.chunkSize,
      chunkCount: row.chunks.length,
      chunks: row.chunks,
      ...(row.encoding && row.encodedSize !== undefined
        ? { encoding: row.encoding, encodedSize: row.encodedSize }
        : {}),
    };
  }

  return {
    dir,
    pathOf,
    async put(bytes) {
      const sha = sha256Hex(bytes);
      const known = await options.artifacts.get(sha);
      const final = pathOf(sha);
      if (!known || !(await this.has(sha))) await writeAtomic(final, bytes);
      return known ? this.layout(sha) : record(await describe(bytes));
    },
    async layout(sha) {
      const row = await options.artifacts.get(sha);
      if (row) return fromRow(row);
      const bytes = await readStored(sha);
      const layout = await describe(bytes);
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
    async transferBytes(sha) {
      const layout = await this.layout(sha);
      if (!layout.encoding) return this.bytes(sha);
      const key = `${sha}.gz`;
      const hit = cache.get(key);
      if (hit) {
        remember(key, hit);
        return hit;
      }
      let buf: Buffer;
      try {
        buf = await readFile(encodedPathOf(sha));
      } catch {
        // Lost beside its model: encode again (the agents' chunk and digest checks catch any difference).
        buf = Buffer.from(gzipArtifact(await this.bytes(sha)));
        await writeAtomic(encodedPathOf(sha), buf);
      }
      remember(key, buf);
      return buf;
    },
    async transferPath(sha) {
      const layout = await this.layout(sha);
      if (layout.encoding) await this.transferBytes(sha);
      return layout.encoding ? encodedPathOf(sha) : pathOf(sha);
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
