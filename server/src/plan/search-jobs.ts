/**
 * Search jobs: a hardware-aware search for a (model, class) runs for minutes, so the admin API
 * and the control loop queue it here and read its state. One search runs at a time (they train
 * on the same 2 cores as everything else), in the order asked. The search itself is the
 * injected {@link SearchRunner} (a worker thread in the server, see search-runner.ts); when it
 * returns a finalist, the finalist is stored as a variant of the model for that class (evaluated
 * like every variant) and the class is planned again, so the planner sees the search's result
 * among its candidates and the loop can roll it out. Jobs live in memory: a restarted server
 * forgets them, and the same request resumes from the search's candidate file.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  EdgefleetError,
  isEdgefleetError,
  stripUndefined,
  searchCreateSchema,
  type Budgets,
  type DeviceClass,
  type Precision,
  type SearchCreate,
  type SearchStatus,
} from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import { BASELINE_RECIPE, searchedCandidate } from './candidates.js';
import type { ClassService } from './classes.js';
import type { ModelRecord, ModelService } from './models.js';
import type { Planner, PlanRequest } from './planner.js';

/** What a runner is given (structured-clone safe, so it can cross into a worker). */
export interface SearchRunInput {
  readonly id: string;
  readonly modelPath: string;
  readonly evalSpec: string;
  readonly deviceClass: Pick<DeviceClass, 'name' | 'capabilities' | 'speedModel' | 'powerModel'> & { budgets: Budgets };
  readonly ratio: number;
  /**
   * The teacher's p95 on the class as the planner predicts it from its host measurement (× the
   * loop's correction), ms; null: no plan at batch 1. The search scales its predictor so that it
   * predicts the teacher at this figure, so search and planner judge the budget alike.
   */
  readonly teacherP95Ms: number | null;
  readonly request: SearchStatus['request'];
  /** Directory for the candidate file and the finalist. */
  readonly outDir: string;
}

export type SearchRunProgress = NonNullable<SearchStatus['progress']>;

/** What a runner returns: the front, and the finalist written to a file (or none fits). */
export interface SearchRunOutput {
  readonly evaluations: number;
  readonly visited: number;
  readonly stopped: string;
  /** The time budget ran out: candidates or finalists were cut, or finalists left untried. */
  readonly timedOut: boolean;
  readonly front: NonNullable<SearchStatus['result']>['front'];
  readonly finalist: {
    readonly path: string;
    readonly accuracyPct: number;
    readonly deviceP95Ms: number | null;
    readonly precision: Precision;
    readonly violation: number;
    /** Host p95 relative to the teacher's, timed side by side (null: not measured). */
    readonly hostRatio: number | null;
    /** Why its training was cut short by the time budget; null: trained in full. */
    readonly cut: string | null;
  } | null;
}

export type SearchRunner = (
  input: SearchRunInput,
  onProgress: (p: SearchRunProgress) => void,
) => Promise<SearchRunOutput>;

export interface SearchJobsOptions {
  readonly classes: Pick<ClassService, 'get'>;
  readonly models: Pick<ModelService, 'resolve'>;
  readonly dataDir: string;
  readonly planner: Planner;
  readonly runner: SearchRunner;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface SearchJobs {
  /** Queue a search; resolves at once with its status (state `queued`), not when it finishes. */
  start(request: SearchCreate): Promise<SearchStatus>;
  get(id: string): SearchStatus;
  list(): SearchStatus[];
  /** Resolves when the job has finished (done or failed). */
  wait(id: string): Promise<SearchStatus>;
  /** Jobs ended since start, by outcome: done, failed, and (of the failed) timed out. */
  ended(): Readonly<Record<'done' | 'failed' | 'timeout', number>>;
}

/** A search id: the request's hash, so the same request (e.g. after a restart) resumes the same candidate file. */
export function searchIdOf(modelSha: string, request: SearchStatus['request']): string {
  const h = createHash('sha256').update(JSON.stringify({ modelSha, request })).digest('hex');
  return `s-${h.slice(0, 12)}`;
}

/**
 * The class's newest plan of the model, asked again (same recipes, same speed correction): the
 * planner adds the class's search finalists to it. Without a plan: the default recipes.
 */
async function latestPlanInputs(planner: Planner, model: ModelRecord, deviceClass: string): Promise<PlanRequest> {
  const latest = (await planner.list({ deviceClass, model: model.sha256 })).at(-1)?.plan;
  const override = latest?.speedModel.override;
  return {
    model: model.sha256,
    deviceClass,
    ...(latest ? { recipes: latest.recipes } : {}),
    ...(override ? { speedModelOverride: stripUndefined(override) } : {}),
  };
}

/** The baseline's predicted p95 in the class's newest plan, without that plan's correction, times `ratio`. */
async function teacherP95(
  planner: Planner,
  model: ModelRecord,
  deviceClass: string,
  ratio: number,
): Promise<number | null> {
  const latest = (await planner.list({ deviceClass, model: model.sha256 })).at(-1)?.plan;
  const p95 = latest?.candidates.find((c) => c.recipe === BASELINE_RECIPE)?.predicted?.p95LatencyMs;
  if (!latest || p95 === undefined) return null;
  return (p95 / (latest.speedModel.override?.ratio ?? 1)) * ratio;
}

export function createSearchJobs(opts: SearchJobsOptions): SearchJobs {
  const now = opts.now ?? Date.now;
  const jobs = new Map<string, { status: SearchStatus; done: Promise<SearchStatus> }>();
  const log = opts.logger.child({ component: 'search' });
  let queue: Promise<unknown> = Promise.resolve();
  const ended = { done: 0, failed: 0, timeout: 0 };

  const update = (id: string, patch: Partial<SearchStatus>): SearchStatus => {
    const j = jobs.get(id) as { status: SearchStatus };
    j.status = { ...j.status, ...patch };
    return j.status;
  };

  async function run(id: string, model: ModelRecord, cls: DeviceClass): Promise<SearchStatus> {
    const request = (jobs.get(id) as { status: SearchStatus }).status.request;
    update(id, { state: 'running', startedAt: now() });
    try {
      const out = await opts.runner(
        {
          id,
          modelPath: join(opts.dataDir, model.path),
          evalSpec: model.evalSpec,
          deviceClass: { ...cls, budgets: { ...cls.budgets, ...request.budgets } },
          ratio: request.ratio ?? 1,
          teacherP95Ms:
            request.batch === 1 ? await teacherP95(opts.planner, model, cls.name, request.ratio ?? 1) : null,
          request,
          outDir: join(opts.dataDir, 'searches', id),
        },
        (progress) => update(id, { progress }),
      );
      if (out.finalist === null && out.timedOut)
        throw new EdgefleetError(
          'EF_ERR_SEARCH_TIMEOUT',
          `the search's time budget of ${Math.round((request.timeBudgetMs ?? 0) / 1000)} s ran out before a ` +
            `finalist was trained (${out.evaluations} candidates built, stopped by ${out.stopped}); ` +
            'give it more time (timeBudgetMs) or fewer evaluations',
          { evaluations: out.evaluations },
        );
      let finalist: NonNullable<SearchStatus['result']>['finalist'] = null;
      if (out.finalist) {
        const f = out.finalist;
        const candidate = searchedCandidate(cls.name, id, f.path, f.precision, f.hostRatio ?? undefined);
        const variant = await opts.planner.variants.getOrBuild(model, candidate);
        const plan = await opts.planner.plan({ ...(await latestPlanInputs(opts.planner, model, cls.name)) });
        finalist = {
          artifactSha: variant.artifactSha,
          bytes: variant.bytes ?? 0,
          accuracyPct: out.finalist.accuracyPct,
          deviceP95Ms: out.finalist.deviceP95Ms,
          planId: plan.id,
          chosen: plan.plan.chosen,
          cut: f.cut,
        };
      }
      log.info(
        { id, deviceClass: cls.name, evaluations: out.evaluations, finalist: finalist?.artifactSha ?? null },
        'search finished',
      );
      const result = {
        evaluations: out.evaluations,
        visited: out.visited,
        stopped: out.stopped,
        timedOut: out.timedOut,
        front: out.front,
        finalist,
      };
      ended.done++;
      return update(id, { state: 'done', finishedAt: now(), result });
    } catch (err: unknown) {
      const error = isEdgefleetError(err)
        ? { code: err.code, message: err.message }
        : { code: 'EF_ERR_SEARCH_FAILED', message: err instanceof Error ? err.message : String(err) };
      log.error({ id, err }, 'search failed');
      ended.failed++;
      if (error.code === 'EF_ERR_SEARCH_TIMEOUT') ended.timeout++;
      return update(id, { state: 'failed', finishedAt: now(), error });
    }
  }

  const get = (id: string): SearchStatus => {
    const j = jobs.get(id);
    if (!j) throw new EdgefleetError('EF_ERR_SEARCH_NOT_FOUND', `no search ${id}; GET /v1/searches lists them`, { id });
    return j.status;
  };

  return {
    async start(input) {
      const request = searchCreateSchema.parse(input);
      const model = await opts.models.resolve(request.model);
      const cls = await opts.classes.get(request.class);
      const id = searchIdOf(model.sha256, request);
      const existing = jobs.get(id);
      if (existing && existing.status.state !== 'failed') return existing.status;
      const status: SearchStatus = {
        id,
        state: 'queued',
        request,
        createdAt: now(),
        startedAt: null,
        finishedAt: null,
        progress: null,
        result: null,
        error: null,
      };
      const done = queue.then(() => run(id, model, cls));
      queue = done.catch(() => undefined);
      jobs.set(id, { status, done });
      return status;
    },
    get,
    list: () => [...jobs.values()].map((j) => j.status),
    ended: () => ({ ...ended }),
    wait: (id) => {
      get(id);
      return (jobs.get(id) as { done: Promise<SearchStatus> }).done;
    },
  };
}
