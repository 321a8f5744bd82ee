/**
 * The planner service: for a model and a class, build (or reuse) every candidate variant,
 * predict the class's latency and power, keep the Pareto front and choose. Plans are stored
 * under the hash of their inputs (model sha, recipes, class name and version, speed model and
 * any override): asking again with the same inputs returns the stored plan unchanged, and a
 * class update invalidates the class's plans (see classes.ts).
 */
import {
  EdgefleetError,
  planObjectiveSchema,
  planSchema,
  type AppliedObjective,
  type PlanBuiltSummary,
  type PlanObjectiveInput,
  stripUndefined,
  type SpeedModelOverride,
  type StoredPlan,
} from '@edgefleet/shared';
import type { ClassRepository } from '../store/classes.js';
import type { ModelRepository } from '../store/models.js';
import type { PlanRepository, PlanRow } from '../store/plans.js';
import { assemblePlan, type Built } from './assemble.js';
import { canonicalJson, candidatesOf, sha256Of, type Candidate } from './candidates.js';
import { createClassService } from './classes.js';
import { resolveModel, type ModelRecord } from './models.js';
import { resolveObjective } from './objective.js';
import { effectiveSpeedModel, workloadBatchOf } from './predict.js';
import { builtSummary } from './progress.js';
import { createVariantService, type VariantService, type VariantServiceOptions } from './variants.js';

/** Progress of one plan: the candidate about to be built (`building`), then what it came to (`built`). */
export interface PlanProgress {
  readonly deviceClass: string;
  readonly recipe: string;
  readonly done: number;
  readonly total: number;
  readonly cached: boolean;
  /** Absent on the closing event (recipe ''). */
  readonly phase?: 'building' | 'built';
  readonly result?: PlanBuiltSummary;
}

/** One planning request. */
export interface PlanRequest {
  /** Model name (newest of that name), sha256 or sha prefix. */
  readonly model: string;
  readonly deviceClass: string;
  /** Candidate recipes (preset names or JSON); default DEFAULT_CANDIDATES. The baseline is always added. */
  readonly recipes?: readonly string[];
  /** Correction from the closed loop (measured ÷ predicted ratio and/or factors). */
  readonly speedModelOverride?: SpeedModelOverride;
  /** What to optimise within the budgets; default the class's objective, else energy (plan-objective.ts). */
  readonly objective?: PlanObjectiveInput;
  readonly onProgress?: (p: PlanProgress) => void;
}

/** Options of {@link createPlanner}: the repositories it reads and writes, and the variant cache's options. */
export interface PlannerOptions extends VariantServiceOptions {
  readonly classes: ClassRepository;
  readonly models: ModelRepository;
  readonly plans: PlanRepository;
}

export interface Planner {
  plan(req: PlanRequest): Promise<StoredPlan>;
  /** Plans the model for every configured class, by class name. */
  planAll(req: Omit<PlanRequest, 'deviceClass'>): Promise<StoredPlan[]>;
  /** Stored plans (valid ones unless asked), newest last. */
  list(filter?: { deviceClass?: string; model?: string; includeInvalidated?: boolean }): Promise<StoredPlan[]>;
  /** One stored plan, or EF_ERR_PLAN_NOT_FOUND. */
  get(id: number): Promise<StoredPlan>;
  readonly variants: VariantService;
}

function toStored(row: PlanRow, reused: boolean): StoredPlan {
  return { id: row.id, createdAt: row.createdAt, reused, plan: row.plan };
}

/** The hash plans are stored under. */
export function planInputsKey(
  model: ModelRecord,
  className: string,
  classVersion: number,
  speedVersion: string,
  speedFactors: unknown,
  candidates: readonly Candidate[],
  objective: AppliedObjective,
): string {
  return sha256Of(
    canonicalJson({
      // Only what changes the choice: the same objective from the class or the request is one plan.
      objective: { kind: objective.kind, accuracyTolerancePts: objective.accuracyTolerancePts },
      model: model.sha256,
      evalSpec: model.evalSpec,
      cls: className,
      classVersion,
      speedVersion,
      speedFactors,
      recipes: candidates.map((c) => c.key),
    }),
  );
}

/** Creates the planner over a store and data directory. */
export function createPlanner(opts: PlannerOptions): Planner {
  const variants = createVariantService(opts);
  const classes = createClassService(opts.classes, stripUndefined({ now: opts.now }));
  const now = opts.now ?? Date.now;
  const tables = opts.plans;

  async function plan(req: PlanRequest): Promise<StoredPlan> {
    const model = await resolveModel(opts.models, req.model);
    const cls = await classes.get(req.deviceClass);
    const speed = effectiveSpeedModel(cls.speedModel, req.speedModelOverride);
    // Search finalists for this class are candidates too (already built and evaluated).
    const searched = await variants.searched(model.sha256, cls.name);
    const candidates = candidatesOf(req.recipes);
    const requested = req.objective === undefined ? undefined : planObjectiveSchema.parse(req.objective);
    const objective = resolveObjective(requested, cls.objective);
    const key = planInputsKey(
      model,
      cls.name,
      cls.version,
      speed.version,
      speed.factors,
      [...candidates, ...searched.map((s) => s.candidate)],
      objective,
    );
    const stored = await tables.find(key);
    if (stored) return toStored(stored, true);
    const built: Built[] = [];
    // Predictions are per call at the class's workload batch, from host timings at that batch.
    const batch = workloadBatchOf(cls);
    let compressions = 0;
    for (const [i, candidate] of candidates.entries()) {
      const cached = await variants.has(model.sha256, candidate.key);
      const step = { deviceClass: cls.name, recipe: candidate.name, done: i, total: candidates.length, cached };
      req.onProgress?.({ ...step, phase: 'building' });
      if (!cached && candidate.recipe !== null) compressions += 1;
      const variant = await variants.latencyAt(model, await variants.getOrBuild(model, candidate), batch);
      req.onProgress?.({ ...step, phase: 'built', result: builtSummary(candidate, variant, cls, speed) });
      built.push({ candidate, variant });
    }
    for (const s of searched) built.push({ ...s, variant: await variants.latencyAt(model, s.variant, batch) });
    req.onProgress?.({
      deviceClass: cls.name,
      recipe: '',
      done: candidates.length,
      total: candidates.length,
      cached: true,
    });
    const body = planSchema.parse(assemblePlan(model, cls, speed, built, objective));
    const id = await tables.insert({
      deviceClass: cls.name,
      classVersion: cls.version,
      modelSha: model.sha256,
      inputsKey: key,
      plan: body,
      createdAt: now(),
    });
    const row = await tables.get(id);
    if (!row) throw new Error(`plan ${id} vanished right after it was stored`);
    return { ...toStored(row, false), compressions };
  }

  async function get(id: number): Promise<StoredPlan> {
    const row = await tables.get(id);
    if (!row)
      throw new EdgefleetError(
        'EF_ERR_PLAN_NOT_FOUND',
        `no plan ${id}; \`edgefleet plan\` makes one, GET /v1/plans lists them`,
        {
          id,
        },
      );
    return toStored(row, true);
  }

  return {
    variants,
    plan,
    get,
    async planAll(req) {
      const out: StoredPlan[] = [];
      for (const cls of await classes.list()) out.push(await plan({ ...req, deviceClass: cls.name }));
      return out;
    },
    async list(filter = {}) {
      const modelSha = filter.model === undefined ? undefined : (await resolveModel(opts.models, filter.model)).sha256;
      const rows = await tables.list(
        stripUndefined({ deviceClass: filter.deviceClass, modelSha, includeInvalidated: filter.includeInvalidated }),
      );
      return rows.map((r) => toStored(r, true));
    },
  };
}
