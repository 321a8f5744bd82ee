/**
 * A build's outcome as a variant row, and back: one definition shared by the planner (a build
 * it ran or waited for) and the queue's workers (a build they finished for a replica that may
 * be gone), so the row is the same whoever stores it.
 */
import { join } from 'node:path';
import type { VariantRow } from '../store/variants.js';
import type { VariantJobResult, VariantTarget } from './variant-job.js';

/** The row a build's result is stored as: the artifact with its evaluation, or why the recipe failed. */
export function variantRowOf(target: VariantTarget, result: VariantJobResult, createdAt: number): VariantRow {
  const base = {
    modelSha: target.modelSha,
    recipeKey: target.recipeKey,
    recipeName: target.recipeName,
    recipe: target.recipe,
    precision: target.precision,
    createdAt,
  };
  if (!result.ok)
    return {
      ...base,
      artifactSha: null,
      artifactPath: null,
      bytes: null,
      report: null,
      evaluation: null,
      error: `${result.code}: ${result.message}`,
    };
  return {
    ...base,
    artifactSha: result.artifactSha,
    artifactPath: join(target.artifactDir, `${result.artifactSha}.onnx`),
    bytes: result.bytes,
    report: result.report,
    evaluation: result.evaluation,
    error: null,
  };
}

/**
 * The result a stored row stands for: a worker handed a job whose row exists (an earlier run stored
 * it and died before the queue heard) answers with it instead of building again.
 */
export function resultOfRow(row: VariantRow): VariantJobResult {
  const compressed = row.report !== null;
  if (row.artifactSha !== null && row.bytes !== null && row.evaluation !== null)
    return {
      ok: true,
      artifactSha: row.artifactSha,
      bytes: row.bytes,
      report: row.report,
      evaluation: row.evaluation,
      compressed,
    };
  const error = row.error ?? 'EF_ERR_PLAN_FAILED: the stored variant has neither an artifact nor an error';
  const colon = error.indexOf(': ');
  return colon > 0
    ? { ok: false, code: error.slice(0, colon), message: error.slice(colon + 2), compressed }
    : { ok: false, code: 'EF_ERR_PLAN_FAILED', message: error, compressed };
}
