/** The planner's variant cache on Postgres (migration 2); rows map as on SQLite. */
import { type RawVariant, toVariant } from '../sqlite/variants.js';
import type { VariantRepository } from '../variants.js';
import type { PgDb } from './db.js';

const json = (v: unknown): string | null => (v === null ? null : JSON.stringify(v));

export function createPgVariantRepository(db: PgDb): VariantRepository {
  return Object.freeze({
    get: async (modelSha, recipeKey) => {
      const r = await db.one<RawVariant>('SELECT * FROM variants WHERE model_sha = $1 AND recipe_key = $2', [
        modelSha,
        recipeKey,
      ]);
      return r ? toVariant(r) : null;
    },
    list: async (modelSha) =>
      (
        await db.rows<RawVariant>('SELECT * FROM variants WHERE model_sha = $1 ORDER BY recipe_name, recipe_key', [
          modelSha,
        ])
      ).map(toVariant),
    findByArtifact: async (sha) => {
      const r = await db.one<RawVariant>(
        'SELECT * FROM variants WHERE artifact_sha = $1 AND artifact_path IS NOT NULL ORDER BY created_at LIMIT 1',
        [sha],
      );
      return r ? toVariant(r) : null;
    },
    put: async (v) => {
      await db.run(
        `INSERT INTO variants (model_sha, recipe_key, recipe_name, recipe, precision, artifact_sha, artifact_path,
          bytes, report, evaluation, error, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (model_sha, recipe_key) DO UPDATE SET recipe_name = excluded.recipe_name,
          recipe = excluded.recipe, precision = excluded.precision, artifact_sha = excluded.artifact_sha,
          artifact_path = excluded.artifact_path, bytes = excluded.bytes, report = excluded.report,
          evaluation = excluded.evaluation, error = excluded.error, created_at = excluded.created_at`,
        [
          v.modelSha,
          v.recipeKey,
          v.recipeName,
          JSON.stringify(v.recipe),
          v.precision,
          v.artifactSha,
          v.artifactPath,
          v.bytes,
          json(v.report),
          json(v.evaluation),
          v.error,
          v.createdAt,
        ],
      );
    },
  } satisfies VariantRepository);
}
