/**
 * `--plan [ID]` of `rollout start` and `golden make` (issue 21): the variant a stored plan chose,
 * by the plan's id or, without one, the class's newest valid plan.
 */
import {
  chosenCandidate,
  EdgefleetError,
  planListSchema,
  storedPlanSchema,
  type StoredPlan,
  variantIdOf,
} from '@edgefleet/shared';
import type { ApiClient } from './api-client.js';
import { usageError } from './usage.js';

export interface PlanChoice {
  readonly planId: number;
  readonly sha256: string;
  readonly variantId: string;
  readonly recipe: string;
}

/** `true` (the flag without a value) or a plan id. */
export type PlanRef = true | string;

async function planOf(api: ApiClient, deviceClass: string, ref: PlanRef): Promise<StoredPlan> {
  if (ref !== true) {
    if (!/^\d+$/.test(ref)) throw usageError(`--plan ${ref}: a plan id is a number (\`edgefleet plan\` prints it)`);
    const stored = await api.get(`/v1/plans/${ref}`, storedPlanSchema);
    if (stored.plan.deviceClass.name !== deviceClass)
      throw usageError(
        `plan ${ref} is for class ${stored.plan.deviceClass.name}, not ${deviceClass}; give --class ` +
          `${stored.plan.deviceClass.name}, or another plan`,
      );
    return stored;
  }
  const { plans } = await api.get(`/v1/plans?class=${encodeURIComponent(deviceClass)}`, planListSchema);
  const newest = plans.at(-1);
  if (!newest)
    throw new EdgefleetError(
      'EF_ERR_PLAN_NOT_FOUND',
      `class ${deviceClass} has no valid plan; make one with \`edgefleet plan MODEL --class ${deviceClass}\``,
      { deviceClass },
    );
  return newest;
}

/** The plan's chosen variant; a plan with no feasible variant is refused, naming what it missed. */
export async function planChoice(api: ApiClient, deviceClass: string, ref: PlanRef): Promise<PlanChoice> {
  const stored = await planOf(api, deviceClass, ref);
  const chosen = chosenCandidate(stored.plan);
  if (stored.plan.outcome !== 'feasible' || !chosen)
    throw new EdgefleetError(
      'EF_ERR_ROLLOUT_INVALID',
      `plan ${stored.id} has no feasible variant for ${deviceClass} (${stored.plan.reason}); change the budgets or ` +
        'the candidates and plan again, or roll out a variant by --variant SHA',
      { planId: stored.id },
    );
  return {
    planId: stored.id,
    sha256: chosen.artifactSha,
    variantId: variantIdOf(chosen.recipe, chosen.artifactSha),
    recipe: chosen.recipe,
  };
}
