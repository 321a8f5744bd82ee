/**
 * The server's artifact store: model files content-addressed as
 * `<dataDir>/artifacts/<sha256>.onnx` (the planner's variant builds write there too), with
 * each artifact's chunk layout [EF-PROTO 6.3] kept in the store so large files are hashed
 * once. Writes go to a temp file, are fsynced and renamed, so a crash never leaves a torn
 * artifact under its final name.
 *
 * A file can still be damaged after it was written (a disk error, an operator's editor), so
 * the digest is checked where it matters: `put` hashes what is on disk and rewrites it from
 * the bytes offered when it does not match (re-adding a model repairs it), and what the chunk
 * server and the HTTP route serve is checked first: a model file against its name, an encoded
 * file against the layout's chunk digests (re-encoded from the model when it does not match).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  chunkRange,
  describeArtifact,
  EdgefleetError,
  encodingPays,
  gzipArtifact,
  MAX_CHUNK_BYTES,
  sha256Hex,
  transferSizeOf,
  type ArtifactLayout,
} from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { ArtifactRepository, ArtifactRow } from '../store/artifacts.js';
import { sweepTemporaryFiles } from '../temp-files.js';

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
  /**
   * The bytes that travel: the encoded file when the layout has an encoding (checked against the
   * layout's chunk digests, re-encoded from the model when damaged or lost), else the model.
   */
  transferBytes(sha256: string): Promise<Buffer>;
  /** sha256 of every stored file whose name starts with `prefix` (variant lookup by prefix). */
  find(prefix: string): string[];
  pathOf(sha256: string): string;
}

const SHA_RE = /^[0-9a-f]{64}$/;

/** Opens (creating the folder of) the artifact store; temporary files of an earlier, killed process are deleted. */
export function createArtifactStore(options: ArtifactStoreOptions): ServerArtifactStore {
  const dir = join(resolve(options.dataDir), ARTIFACTS_DIR);
  mkdirSync(dir, { recursive: true });
  const swept = sweepTemporaryFiles(dir);
  if (swept > 0) options.logger?.warn({ dir, swept }, 'deleted temporary files an interrupted write left behind');
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
      `artifact file ${pathOf(sha)} hashes to ${actual}, not its name; store the model again ` +
        '(edgefleet model add, or rollout start --model) to repair it',
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

  /** Drops a cached buffer (and its encoded twin) so the next read sees the file on disk. */
  function forget(sha: string): void {
    for (const key of [sha, `${sha}.gz`]) {
      const old = cache.get(key);
      if (!old) continue;
      cache.delete(key);
      cached -= old.byteLength;
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
    try {
      const handle = await open(tmp, 'w', 0o644);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, final);
    } catch (err: unknown) {
      // A full disk leaves no half-written temp file behind, and nothing under the final name.
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** True when `wire` has exactly the layout's chunks (how an encoded file is checked: its digest is not stored). */
  function matchesChunks(wire: Uint8Array, layout: ArtifactLayout): boolean {
    if (wire.byteLength !== (layout.encodedSize ?? layout.size)) return false;
    return layout.chunks.every((digest, i) => {
      const { start, end } = chunkRange(i, layout.chunkSize, wire.byteLength);
      return sha256Hex(wire.subarray(start, end)) === digest;
    });
  }

  /** The encoded file, checked; a damaged or lost one is encoded again from the (verified) model. */
  async function readEncoded(sha: string, layout: ArtifactLayout): Promise<Buffer> {
    const stored = await readFile(encodedPathOf(sha)).catch(() => null);
    if (stored && matchesChunks(stored, layout)) return stored;
    if (stored) options.logger?.warn({ sha256: sha }, 'stored encoded artifact is damaged; encoding it again');
    const again = Buffer.from(gzipArtifact(await readVerified(sha)));
    if (!matchesChunks(again, layout))
      throw new EdgefleetError(
        'EF_ERR_ARTIFACT_INTEGRITY',
        `artifact ${sha} encodes to other bytes than its recorded layout; store the model again to repair it`,
        { sha256: sha },
      );
    await writeAtomic(encodedPathOf(sha), again);
    return again;
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
    async put(bytes, onStored) {
      const sha = sha256Hex(bytes);
      const known = await options.artifacts.get(sha);
      const found = await onDisk(sha);
      if (found === 'damaged')
        options.logger?.warn({ sha256: sha }, 'stored artifact was damaged; repairing it from the bytes offered');
      if (found !== 'intact') {
        await writeAtomic(pathOf(sha), bytes);
        forget(sha);
      }
      onStored?.(found === 'intact' ? 'unchanged' : found === 'damaged' ? 'repaired' : 'written');
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
        readVerified(sha)
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
      const buf = await readEncoded(sha, layout);
      remember(key, buf);
      return buf;
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
