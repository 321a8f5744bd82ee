/**
 * Variants: (model, recipe) → artifact + evaluation, cached in the store so the same model and
 * recipe are never compressed twice (failures are cached too: a recipe that refuses a model
 * refuses it again). Builds run one at a time (configurable) in fresh worker threads: a fresh
 * worker per build also sidesteps onnxruntime's growth when sessions are created and released
 * in one long-lived process.
 */
import { join, relative, resolve } from 'node:path';
import { spawnModuleWorker, stripUndefined } from '@edgefleet/shared';
import type { CompressReport, EvalResult } from '@edgefleet/compress';
import type { VariantRepository, VariantRow } from '../store/variants.js';
import { isSearchedFor, searchedHostRatio, type Candidate } from './candidates.js';
import type { ModelRecord } from './models.js';
import {
  calibSpecFor,
  type LatencyJob,
  type LatencyJobResult,
  type VariantBuildStage,
  type VariantJob,
  type VariantJobResult,
  type VariantTarget,
} from './variant-job.js';
import { variantRowOf } from './variant-row.js';

/** A cached variant as the planner reads it. */
export interface Variant {
  readonly modelSha: string;
  readonly recipe: string;
  readonly recipeKey: string;
  readonly precision: Candidate['precision'];
  /** null when the recipe failed on this model; then `error` says why. */
  readonly artifactSha: string | null;
  /** Relative to the data directory. */
  readonly artifactPath: string | null;
  readonly bytes: number | null;
  readonly evaluation: EvalResult | null;
  readonly report: CompressReport | null;
  readonly error: string | null;
}

/** Runs a build; the default starts a worker thread. Tests inject an in-process runner. */
/** Builds a variant; `onStage` hears each step as it starts (the queue shows it as progress). */
export type VariantJobRunner = (
  job: VariantJob,
  onStage?: (stage: VariantBuildStage) => void,
) => Promise<VariantJobResult>;

/** Options of {@link createVariantService}. */
export interface VariantServiceOptions {
  readonly variants: VariantRepository;
  readonly dataDir: string;
  /** Default: a fresh worker thread per build. */
  readonly runJob?: VariantJobRunner;
  /** Times a built variant at another batch; default a fresh worker thread. */
  readonly runLatencyJob?: (job: LatencyJob) => Promise<LatencyJobResult>;
  /** Latency warm-up runs per variant; default 5. */
  readonly warmupRuns?: number;
  /** Latency timed runs per variant; default 50. */
  readonly timedRuns?: number;
  /** Clock for created_at; default Date.now. */
  readonly now?: () => number;
  /** Called after every build (metrics: compression jobs and their durations). */
  readonly onBuild?: (build: VariantBuildInfo) => void;
  /** Monotonic clock for build durations, ms; default performance.now. */
  readonly monotonicNow?: () => number;
}

/** One finished build, as {@link VariantServiceOptions.onBuild} sees it. */
export interface VariantBuildInfo {
  readonly recipe: string;
  readonly precision: Candidate['precision'];
  readonly ok: boolean;
  /** False for the baseline (evaluated, not compressed). */
  readonly compressed: boolean;
  readonly durationMs: number;
}

export interface VariantService {
  /** The cached variant, or builds it (once, even when asked concurrently). */
  getOrBuild(model: ModelRecord, candidate: Candidate): Promise<Variant>;
  /** Cached variants of a model. */
  list(modelSha: string): Promise<Variant[]>;
  /** Whether (model, recipe) is cached, built or failed. */
  has(modelSha: string, recipeKey: string): Promise<boolean>;
  /**
   * The variant with its host latency at `batch` measured (once, then stored in its evaluation's
   * `latencyByBatch`); batch 1 and failed variants come back as they are. A timing that fails
   * leaves the variant without that figure (the planner then excludes it for that class).
   */
  latencyAt(model: ModelRecord, variant: Variant, batch: number): Promise<Variant>;
  /** Search finalists of a model for a class, as candidates with their variants. */
  searched(modelSha: string, className: string): Promise<{ candidate: Candidate; variant: Variant }[]>;
  /** Builds started by this service (compressions run; the baseline counts as a build, not a compression). */
  readonly stats: { builds: number; compressions: number };
}

/** Runs a job in a fresh worker thread and resolves with its one message. */
export const runJobInWorker: VariantJobRunner = (job, onStage) =>
  runInWorker<VariantJobResult>(
    job,
    (message) => ({
      ok: false,
      code: 'EF_ERR_PLAN_FAILED',
      message,
      compressed: false,
    }),
    onStage,
  );

/** Runs a timing in a fresh worker thread. */
export const runLatencyJobInWorker = (job: LatencyJob): Promise<LatencyJobResult> =>
  runInWorker<LatencyJobResult>(job, (message) => ({ ok: false, code: 'EF_ERR_PLAN_FAILED', message }));

function runInWorker<R>(
  job: VariantJob | LatencyJob,
  failed: (message: string) => R,
  onStage?: (stage: VariantBuildStage) => void,
): Promise<R> {
  return new Promise((resolveJob, reject) => {
    const worker = spawnModuleWorker(new URL('./variant-worker.js', import.meta.url), { workerData: job });
    let settled = false;
    worker.on('message', (m: R | { stage: VariantBuildStage }) => {
      if (typeof m === 'object' && m !== null && 'stage' in m) {
        onStage?.(m.stage);
        return;
      }
      if (settled) return;
      settled = true;
      resolveJob(m);
      void worker.terminate();
    });
    worker.once('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    worker.once('exit', (code) => {
      if (!settled) {
        settled = true;
        resolveJob(failed(`the variant worker exited with code ${code} before answering`));
      }
    });
  });
}

function toVariant(row: VariantRow): Variant {
  return {
    modelSha: row.modelSha,
    recipe: row.recipeName,
    recipeKey: row.recipeKey,
    precision: row.precision as Variant['precision'],
    artifactSha: row.artifactSha,
    artifactPath: row.artifactPath,
    bytes: row.bytes,
    evaluation: row.evaluation,
    report: row.report,
    error: row.error,
  };
}

/** Creates the variant cache over the store. */
export function createVariantService(opts: VariantServiceOptions): VariantService {
  const dataDir = resolve(opts.dataDir);
  const runJob = opts.runJob ?? runJobInWorker;
  const now = opts.now ?? Date.now;
  const tables = opts.variants;
  const stats = { builds: 0, compressions: 0 };
  const inFlight = new Map<string, Promise<Variant>>();
  // One build at a time: compression and evaluation are CPU-bound and the box has few cores.
  let queue: Promise<unknown> = Promise.resolve();

  async function build(model: ModelRecord, c: Candidate): Promise<Variant> {
    const artifactDir = join(dataDir, 'artifacts');
    const target: VariantTarget = {
      modelSha: model.sha256,
      recipeKey: c.key,
      recipeName: c.name,
      recipe: c.source
        ? { search: { ...c.source.search, ...stripUndefined({ hostRatio: c.hostRatio }) } }
        : (c.recipe ?? 'baseline'),
      precision: c.precision,
      artifactDir: relative(dataDir, artifactDir),
    };
    const job: VariantJob = {
      modelPath: c.source?.path ?? join(dataDir, model.path),
      recipe: c.recipe,
      evalSpec: model.evalSpec,
      calibSpec: calibSpecFor(model.evalSpec),
      shapes: model.shapes,
      artifactDir,
      warmupRuns: opts.warmupRuns ?? 5,
      timedRuns: opts.timedRuns ?? 50,
      needsCalibration: c.needsCalibration,
      target,
    };
    stats.builds++;
    const clock = opts.monotonicNow ?? (() => performance.now());
    const started = clock();
    const result = await runJob(job);
    if (result.compressed) stats.compressions++;
    opts.onBuild?.({
      recipe: c.name,
      precision: c.precision,
      ok: result.ok,
      compressed: result.compressed,
      durationMs: clock() - started,
    });
    // A queued build's worker stores the row itself (its asker may have died); otherwise it is stored here.
    const stored = await tables.get(model.sha256, c.key);
    if (!stored) await tables.put(variantRowOf(target, result, now()));
    const row = stored ?? (await tables.get(model.sha256, c.key));
    if (!row) throw new Error(`variant ${c.name} of ${model.sha256} vanished right after it was stored`);
    return toVariant(row);
  }

  const runLatency = opts.runLatencyJob ?? runLatencyJobInWorker;

  async function measureAt(model: ModelRecord, v: Variant, batch: number): Promise<Variant> {
    const row = await tables.get(model.sha256, v.recipeKey);
    const known = row?.evaluation?.latencyByBatch?.[String(batch)];
    if (!row?.evaluation || !row.artifactPath || known) return row ? toVariant(row) : v;
    const result = await runLatency({
      kind: 'latency',
      artifactPath: join(dataDir, row.artifactPath),
      evalSpec: model.evalSpec,
      shapes: model.shapes,
      batch,
      warmupRuns: opts.warmupRuns ?? 5,
      timedRuns: opts.timedRuns ?? 50,
    });
    if (!result.ok) return toVariant(row);
    const latencyByBatch = { ...row.evaluation.latencyByBatch, [String(batch)]: result.latency };
    await tables.put({ ...row, evaluation: { ...row.evaluation, latencyByBatch } });
    return { ...toVariant(row), evaluation: { ...row.evaluation, latencyByBatch } };
  }

  return {
    stats,
    latencyAt(model, v, batch) {
      if (batch === 1 || v.artifactSha === null || v.evaluation?.latencyByBatch?.[String(batch)])
        return Promise.resolve(v);
      // In the build queue: a timing is CPU-bound like a build, and must not overlap one.
      const p = queue.then(() => measureAt(model, v, batch));
      queue = p.catch(() => undefined);
      return p;
    },
    list: async (modelSha) => (await tables.list(modelSha)).map(toVariant),
    has: async (modelSha, recipeKey) => (await tables.get(modelSha, recipeKey)) !== null,
    searched: async (modelSha, className) =>
      (await tables.list(modelSha))
        .filter((row) => isSearchedFor(row.recipe, className))
        .map((row) => ({
          candidate: {
            name: row.recipeName,
            recipe: null,
            precision: row.precision as Candidate['precision'],
            key: row.recipeKey,
            needsCalibration: false,
            ...stripUndefined({ hostRatio: searchedHostRatio(row.recipe) }),
          },
          variant: toVariant(row),
        })),
    async getOrBuild(model, c) {
      const cached = await tables.get(model.sha256, c.key);
      if (cached) return toVariant(cached);
      const id = `${model.sha256}/${c.key}`;
      const running = inFlight.get(id);
      if (running) return running;
      const p = queue
        .then(async () => {
          const again = await tables.get(model.sha256, c.key);
          return again ? toVariant(again) : build(model, c);
        })
        .finally(() => inFlight.delete(id));
      queue = p.catch(() => undefined);
      inFlight.set(id, p);
      return p;
    },
  };
}
