/**
 * The variant repository (used by the planner's variant cache): one row per (model, recipe),
 * a built artifact with its evaluation, or the reason the recipe failed.
 */
import { compressReportSchema, evalResultSchema, type CompressReport, type EvalResult } from '@edgefleet/compress';
import { z } from 'zod';

/** A recipe as stored: a preset name, `baseline`, or a recipe document. */
export const storedRecipeSchema = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]);
export const storedReportSchema = compressReportSchema;
export const storedEvaluationSchema = evalResultSchema;

export interface VariantRow {
  readonly modelSha: string;
  readonly recipeKey: string;
  readonly recipeName: string;
  readonly recipe: z.infer<typeof storedRecipeSchema>;
  readonly precision: string;
  readonly artifactSha: string | null;
  /** Relative to the data directory. */
  readonly artifactPath: string | null;
  readonly bytes: number | null;
  readonly report: CompressReport | null;
  readonly evaluation: EvalResult | null;
  readonly error: string | null;
  readonly createdAt: number;
}

export interface VariantRepository {
  get(modelSha: string, recipeKey: string): Promise<VariantRow | null>;
  /** Variants of a model, by recipe name. */
  list(modelSha: string): Promise<VariantRow[]>;
  /** A built variant whose artifact has this sha256 (any model), or null. */
  findByArtifact(artifactSha: string): Promise<VariantRow | null>;
  /** Inserts or replaces the (model, recipe) row. */
  put(row: VariantRow): Promise<void>;
}
