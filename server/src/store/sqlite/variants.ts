/** The planner's variant cache on SQLite (migration 2). */
import { decodeJson, decodeNullableJson } from '../decode.js';
import {
  storedEvaluationSchema,
  storedRecipeSchema,
  storedReportSchema,
  type VariantRepository,
  type VariantRow,
} from '../variants.js';
import type { Db } from './open.js';

export interface RawVariant {
  model_sha: string;
  recipe_key: string;
  recipe_name: string;
  recipe: string;
  precision: string;
  artifact_sha: string | null;
  artifact_path: string | null;
  bytes: number | null;
  report: string | null;
  evaluation: string | null;
  error: string | null;
  created_at: number;
}

export function toVariant(r: RawVariant): VariantRow {
  const at = (column: string) => ({ table: 'variants', column, key: `${r.model_sha}/${r.recipe_key}` });
  return {
    modelSha: r.model_sha,
    recipeKey: r.recipe_key,
    recipeName: r.recipe_name,
    recipe: decodeJson(storedRecipeSchema, r.recipe, at('recipe')),
    precision: r.precision,
    artifactSha: r.artifact_sha,
    artifactPath: r.artifact_path,
    bytes: r.bytes,
    report: decodeNullableJson(storedReportSchema, r.report, at('report')),
    evaluation: decodeNullableJson(storedEvaluationSchema, r.evaluation, at('evaluation')),
    error: r.error,
    createdAt: r.created_at,
  };
}

export function createSqliteVariantRepository(db: Db): VariantRepository {
  const s = {
    get: db.prepare('SELECT * FROM variants WHERE model_sha = ? AND recipe_key = ?'),
    list: db.prepare('SELECT * FROM variants WHERE model_sha = ? ORDER BY recipe_name, recipe_key'),
    byArtifact: db.prepare(
      'SELECT * FROM variants WHERE artifact_sha = ? AND artifact_path IS NOT NULL ORDER BY created_at LIMIT 1',
    ),
    put: db.prepare(`INSERT OR REPLACE INTO variants (model_sha, recipe_key, recipe_name, recipe, precision,
      artifact_sha, artifact_path, bytes, report, evaluation, error, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
  };
  const json = (v: unknown): string | null => (v === null ? null : JSON.stringify(v));
  return Object.freeze({
    get: async (modelSha, recipeKey) => {
      const r = s.get.get(modelSha, recipeKey) as RawVariant | undefined;
      return r ? toVariant(r) : null;
    },
    list: async (modelSha) => (s.list.all(modelSha) as RawVariant[]).map(toVariant),
    findByArtifact: async (sha) => {
      const r = s.byArtifact.get(sha) as RawVariant | undefined;
      return r ? toVariant(r) : null;
    },
    put: async (v) => {
      s.put.run(
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
      );
    },
  } satisfies VariantRepository);
}
