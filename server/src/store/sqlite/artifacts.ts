/** Artifact layouts on SQLite (migrations 10 and 12). */
import { chunkDigestsSchema, type ArtifactRepository, type ArtifactRow } from '../artifacts.js';
import { decodeJson } from '../decode.js';
import type { Db } from './open.js';

export interface RawArtifact {
  sha256: string;
  size: number;
  chunk_size: number;
  chunks: string;
  created_at: number;
  encoding: 'gzip' | null;
  encoded_size: number | null;
}

export const toArtifact = (r: RawArtifact): ArtifactRow => ({
  sha256: r.sha256,
  size: r.size,
  chunkSize: r.chunk_size,
  chunks: decodeJson(chunkDigestsSchema, r.chunks, { table: 'artifacts', column: 'chunks', key: r.sha256 }),
  createdAt: r.created_at,
  // The column's CHECK allows only gzip; a size without it (or the reverse) is treated as unencoded.
  ...(r.encoding === 'gzip' && r.encoded_size !== null
    ? { encoding: 'gzip' as const, encodedSize: r.encoded_size }
    : {}),
});

export function createSqliteArtifactRepository(db: Db): ArtifactRepository {
  const get = db.prepare('SELECT * FROM artifacts WHERE sha256 = ?');
  const put = db.prepare(
    `INSERT OR IGNORE INTO artifacts (sha256, size, chunk_size, chunks, created_at, encoding, encoded_size)
      VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  return Object.freeze({
    get: async (sha) => {
      const r = get.get(sha) as RawArtifact | undefined;
      return r ? toArtifact(r) : null;
    },
    put: async (row) => {
      put.run(
        row.sha256,
        row.size,
        row.chunkSize,
        JSON.stringify(row.chunks),
        row.createdAt,
        row.encoding ?? null,
        row.encodedSize ?? null,
      );
    },
  } satisfies ArtifactRepository);
}
