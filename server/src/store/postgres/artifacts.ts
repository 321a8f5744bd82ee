/** Artifact layouts on Postgres (migrations 10 and 12); rows map as on SQLite. */
import type { ArtifactRepository } from '../artifacts.js';
import { type RawArtifact, toArtifact } from '../sqlite/artifacts.js';
import type { PgDb } from './db.js';

export function createPgArtifactRepository(db: PgDb): ArtifactRepository {
  return Object.freeze({
    get: async (sha) => {
      const r = await db.one<RawArtifact>('SELECT * FROM artifacts WHERE sha256 = $1', [sha]);
      return r ? toArtifact(r) : null;
    },
    put: async (row) => {
      await db.run(
        `INSERT INTO artifacts (sha256, size, chunk_size, chunks, created_at, encoding, encoded_size)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [
          row.sha256,
          row.size,
          row.chunkSize,
          JSON.stringify(row.chunks),
          row.createdAt,
          row.encoding ?? null,
          row.encodedSize ?? null,
        ],
      );
    },
  } satisfies ArtifactRepository);
}
