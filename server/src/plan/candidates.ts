/**
 * Candidate recipes the planner builds, and the compute precision each one executes at (the
 * precision a class must support and whose speed factor applies). `fp32` is the original
 * model unchanged: the baseline every accuracy drop is measured against.
 */
import { createHash } from 'node:crypto';
import type { Precision } from '@edgefleet/shared';
import { parseRecipe, type Recipe } from '@edgefleet/compress';
import { stripUndefined } from '@edgefleet/shared';

/** The baseline: the uploaded model as it is. */
export const BASELINE_RECIPE = 'fp32';

/** Default candidates, in the order tables list them. */
export const DEFAULT_CANDIDATES: readonly string[] = [
  'fp32',
  'fp16',
  'int8-dynamic',
  'int8-static',
  'int8-weights',
  'int4-weights',
];

/** A candidate: a name, the recipe (null for the baseline), its compute precision and cache key. */
export interface Candidate {
  readonly name: string;
  readonly recipe: Recipe | null;
  readonly precision: Precision;
  /** sha256 of the canonical recipe JSON; the variant cache key together with the model sha. */
  readonly key: string;
  /** Needs calibration data (int8-static, bias-correction, pruning and reconstruction). */
  readonly needsCalibration: boolean;
  /**
   * A model built elsewhere (a search's finalist): evaluated as it is, like the baseline, from
   * this absolute path instead of the stored original. Its variant row records the search.
   */
  readonly source?: { readonly path: string; readonly search: { readonly class: string; readonly id: string } };
  /**
   * Host p95 relative to the baseline's, as the search timed the two side by side when it
   * confirmed its finalist. The plan then predicts the variant from the baseline's host p95 × this
   * ratio rather than from its own timing, taken alone at another moment: on a loaded machine two
   * such timings of a 40 µs model differ by more than the speed-up being judged.
   */
  readonly hostRatio?: number;
}

/** Names of search finalists in a plan start with this (they are listed among its recipes). */
export const SEARCHED_PREFIX = 'searched-';

/** The candidate of a search's finalist for a class (cached under a key of its own). */
export function searchedCandidate(
  className: string,
  searchId: string,
  path: string,
  precision: Precision,
  hostRatio?: number,
): Candidate {
  return {
    name: `${SEARCHED_PREFIX}${searchId}`.slice(0, 64),
    recipe: null,
    precision,
    key: sha256Of(`search:${className}:${searchId}`),
    needsCalibration: false,
    source: { path, search: { class: className, id: searchId } },
    ...stripUndefined({ hostRatio }),
  };
}

/** The side-by-side host ratio a search finalist's variant row records, if any. */
export function searchedHostRatio(recipe: unknown): number | undefined {
  const r = (recipe as { search?: { hostRatio?: unknown } } | null)?.search?.hostRatio;
  return typeof r === 'number' && Number.isFinite(r) && r > 0 ? r : undefined;
}

/** Whether a stored variant's recipe column marks a search finalist of `className`. */
export function isSearchedFor(recipe: unknown, className: string): boolean {
  const s = (recipe as { search?: { class?: unknown } } | null)?.search;
  return typeof s === 'object' && s !== null && s.class === className;
}

/** JSON with sorted keys, so equal values always give equal text (and equal hashes). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const sha256Of = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The precision a recipe computes at. Weight-only int8 dequantizes to float at load, so it
 * computes in fp32 (it only saves storage); int4 weight-only runs MatMulNBits kernels.
 */
export function precisionOf(recipe: Recipe | null): Precision {
  const passes = new Set(recipe?.steps.map((s) => s.pass) ?? []);
  if (passes.has('int4-weights')) return 'int4';
  if (passes.has('int8-static') || passes.has('int8-dynamic') || passes.has('qat')) return 'int8';
  if (passes.has('fp16')) return 'fp16';
  return 'fp32';
}

/**
 * Passes that read calibration data (pruning checks its result on it; magnitude pruning too;
 * qat calibrates on it and, without training data of its own, trains on it).
 */
const CALIBRATED_PASSES: ReadonlySet<string> = new Set([
  'int8-static',
  'bias-correction',
  'prune-structured',
  'reconstruct',
  'prune-magnitude',
  'qat',
]);

/** Resolves a candidate from a preset name, `fp32`, or recipe JSON (throws EF_ERR_RECIPE_INVALID). */
export function candidateOf(input: string): Candidate {
  if (input === BASELINE_RECIPE)
    return {
      name: BASELINE_RECIPE,
      recipe: null,
      precision: 'fp32',
      key: sha256Of('baseline'),
      needsCalibration: false,
    };
  const recipe = parseRecipe(input);
  const name = recipe.name ?? `custom-${sha256Of(canonicalJson(recipe)).slice(0, 8)}`;
  return {
    name,
    recipe,
    precision: precisionOf(recipe),
    key: sha256Of(canonicalJson(recipe)),
    needsCalibration: recipe.steps.some((s) => CALIBRATED_PASSES.has(s.pass)),
  };
}

/** Resolves a list of candidates; the baseline is always included (first), duplicates dropped. */
export function candidatesOf(inputs: readonly string[] = DEFAULT_CANDIDATES): Candidate[] {
  const out = new Map<string, Candidate>();
  // A plan's recipe list names its search finalists too; they
  // are not recipes (the planner adds them from the variants).
  const recipes = inputs.filter((r) => !r.startsWith(SEARCHED_PREFIX));
  for (const c of [BASELINE_RECIPE, ...recipes].map(candidateOf)) if (!out.has(c.key)) out.set(c.key, c);
  return [...out.values()];
}
