import { writeModel, type Model } from '../ir/index.js';
import { openCandidateStore } from './candidate-store.js';
import type { CandidateRecord } from './candidate-store.js';
import { runSearch, type Evaluator, type SearchProgress, type SearchResult } from './engine.js';
import type { LatencyPredictor } from './latency/index.js';
import { budgetViolation, deviceFigures, predictCandidate, type ClassTarget } from './score.js';
import { createSearchSpace, teacherChainOf, type Candidate, type SearchSpace } from './space.js';
import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import type { Dataset } from '../data/tensor.js';
import type { MeasuredRatio } from './confirm.js';
import { buildFinalists } from './finalists.js';
import { fastestPrecisions, singleTechniques } from './seeds.js';

export { finalistOrder } from './finalists.js';

/**
 * Hardware-aware search for one teacher and one class: NSGA-II over the space of pruned
 * teachers and students at per-layer precisions, minimising top-1 error, predicted device
 * latency and file size. Size, latency and energy budgets are hard constraints; candidates
 * predicted to break one are screened out before anything is built; the rest are built by the
 * caller's {@link CandidateBuilder} (prune + reconstruct or a student, a short distillation,
 * quantization) and scored on the real graph. Their top-1 after a short distillation is a proxy
 * (once-for-all, AMC and the EON Tuner rank on proxies too), so during the search it is only an
 * objective: the accuracy floor applies to finalists, which are built again with the full
 * training budget, scored the same way, and tried in turn down the front until one meets every
 * budget.
 *
 * `timeBudgetMs` bounds the whole search, finalists included: candidates are started (and
 * their training cut) until `searchShare` of it, finalists are trained until all of it, at step
 * granularity; a finalist cut short is returned as what it is (`cut` says so) and judged on its
 * real accuracy like any other. What a step cannot interrupt (a pruned teacher's refit) is bounded
 * by the caller: the server terminates the search's worker past the budget and a grace.
 */
export interface BuiltCandidate {
  /** The model as it would ship (quantized per the candidate's precisions). */
  readonly model: Model;
  /** Top-1 in percent on the search's validation data. */
  readonly accuracyPct: number;
  /** What the build did (e.g. "QAT: PTQ lost 1.4 points"). */
  readonly notes: readonly string[];
  /** Set when the build's time limit stopped its training: why, and how far it got. */
  readonly cut?: string;
}

/** When a build must stop training (checked at every training step). */
export interface BuildLimit {
  expired(): boolean;
}

/** Builds candidates; `final` means the finalist's full training. */
export interface CandidateBuilder {
  build(candidate: Candidate, stage: 'search' | 'final', limit?: BuildLimit): Promise<BuiltCandidate>;
}

/** Objectives, in the order records store them. */
export const SEARCH_OBJECTIVES = ['errorPct', 'deviceP95Ms', 'modelBytes'] as const;

export interface SearchModelOptions {
  readonly teacher: Model;
  /** The teacher's top-1 on the same validation data (for maxAccuracyDropPts). */
  readonly teacherAccuracyPct: number;
  readonly cls: ClassTarget;
  readonly predictor: LatencyPredictor;
  readonly builder: CandidateBuilder;
  readonly seed: number;
  readonly maxEvaluations: number;
  /**
   * Batch size latency is predicted (and the p95 budget judged) at; default 1. On small models the
   * fixed cost of a call caps speed-ups at batch 1 (~3× on mnist-cnn), so a throughput goal is
   * searched at a larger batch.
   */
  readonly batch?: number;
  /**
   * Hard bound on the whole search, ms (see the file's comment); none when unset. Candidates get
   * `searchShare` of it (default 0.5), finalists the rest.
   */
  readonly timeBudgetMs?: number;
  readonly searchShare?: number;
  readonly population?: number;
  /** JSON-lines file of candidates (resumable); none when unset. */
  readonly storePath?: string;
  /** Anything else that changes what an evaluation means (training budget, data), for the store's identity. */
  readonly settingsLabel?: string;
  readonly onProgress?: (p: SearchProgress) => void;
  readonly now?: () => number;
  /**
   * One batch of inputs at `batch` to time finalists against the teacher on this host (see
   * confirm.ts). Unset: finalists are judged on predictions alone.
   */
  readonly confirmSample?: Dataset;
  /**
   * With `confirmSample`: relative slack on the latency, energy and power budgets while candidates
   * are only predicted (screening and the front), since measurement decides for the finalists;
   * default 0.15 (the predictor's held-out error is ~28% per model, less on ratios to the teacher).
   * Without a sample predictions are final and there is no slack.
   */
  readonly timingTolerance?: number;
  /** Front members fully trained in turn until one meets every budget (accuracy included); default 3. */
  readonly maxFinalists?: number;
  /** Called before each finalist's full training (it takes minutes). */
  readonly onFinalist?: (f: { readonly index: number; readonly of: number; readonly record: CandidateRecord }) => void;
}

/** The slack on predicted timing figures (see {@link SearchModelOptions.timingTolerance}). */
function toleranceOf(opts: Pick<SearchModelOptions, 'confirmSample' | 'timingTolerance'>): number {
  return opts.confirmSample ? (opts.timingTolerance ?? 0.15) : 0;
}

/** The finalist as built for shipping. */
export interface Finalist {
  readonly record: CandidateRecord;
  readonly candidate: Candidate;
  readonly model: Model;
  readonly bytes: Uint8Array;
  readonly accuracyPct: number;
  readonly deviceP95Ms: number | null;
  readonly violation: number;
  readonly broken: readonly string[];
  readonly notes: readonly string[];
  /** The host measurement that confirmed (or refused) the prediction; null when none was taken. */
  readonly measured: MeasuredRatio | null;
  /** Set when the time budget cut its training: it is the model as trained so far. */
  readonly cut?: string;
}

export interface SearchModelResult {
  readonly space: SearchSpace;
  readonly search: SearchResult;
  /** The first finalist that meets every budget, else the one closest to it; undefined when the front is empty. */
  readonly finalist: Finalist | undefined;
  /** Every finalist fully trained, in the order tried. */
  readonly finalists: readonly Finalist[];
  /** True when `timeBudgetMs` ran out (candidates or finalists cut, or finalists left untried). */
  readonly timedOut: boolean;
  /** Front members timed on this host before training (with a confirm sample), in the order tried. */
  readonly timed: readonly TimedFrontMember[];
}

/** A front member timed against the teacher before any finalist training: the predictor's ratio and the host's. */
export interface TimedFrontMember {
  readonly record: CandidateRecord;
  /** Predicted host latency ÷ the teacher's, at the search's batch. */
  readonly predictedRatio: number;
  readonly measured: MeasuredRatio;
  /** Relative excess over the timing budgets when measured (0: it goes on to full training). */
  readonly violation: number;
  readonly broken: readonly string[];
}

/**
 * How long past its time budget a search may run before its caller stops it by force (the server
 * terminates its worker, the CLI exits): a quarter of the budget, at least a minute. It covers
 * what a training step cannot interrupt: a pruned teacher's refit (tens of seconds on
 * mnist-cnn-large), quantizing and scoring a cut finalist, timing it against the teacher.
 */
export function searchGraceMs(timeBudgetMs: number): number {
  return Math.max(60_000, Math.round(timeBudgetMs / 4));
}

/** The search's clock against its time budget. */
interface Deadline {
  /** Candidates stop (being started, and training) here. */
  readonly search: BuildLimit;
  /** Finalists stop training here. */
  readonly final: BuildLimit;
}

function deadlineOf(opts: Pick<SearchModelOptions, 'timeBudgetMs' | 'searchShare' | 'now'>): Deadline {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const budget = opts.timeBudgetMs ?? Number.POSITIVE_INFINITY;
  const share = opts.searchShare ?? 0.5;
  return {
    search: { expired: () => now() - t0 >= budget * share },
    final: { expired: () => now() - t0 >= budget },
  };
}

/**
 * Score a built model on the class: measured size, latency and energy predicted on its real graph
 * at the search's batch, and accuracy (a hard constraint unless `accuracy` is 'objective', as it
 * is for the search's proxy).
 */
export function scoreBuilt(
  built: BuiltCandidate,
  opts: Pick<SearchModelOptions, 'predictor' | 'cls' | 'teacherAccuracyPct' | 'batch'>,
  timingTolerance = 0,
  accuracy: 'constraint' | 'objective' = 'constraint',
) {
  const bytes = writeModel(built.model);
  const host = opts.predictor.host(built.model, opts.batch ?? 1);
  const device = deviceFigures(host, opts.cls);
  const { violation, broken } = budgetViolation(
    { ...device, sizeBytes: bytes.length, ...(accuracy === 'constraint' ? { accuracyPct: built.accuracyPct } : {}) },
    opts.cls.budgets,
    opts.teacherAccuracyPct,
    timingTolerance,
  );
  return { bytes, hostMs: host.ms, ...device, violation, broken };
}

/** Run the search and build its finalist. */
export async function searchModel(opts: SearchModelOptions): Promise<SearchModelResult> {
  const chain = teacherChainOf(opts.teacher);
  if (typeof chain === 'string')
    throw new EdgefleetError('EF_ERR_SEARCH_OPTIONS', `the search needs a plain-chain teacher: ${chain}`, {});
  const space = createSearchSpace(chain, opts.cls.precisions);
  const deadline = deadlineOf(opts);
  const candidates = new Map<string, Candidate>();
  const evaluate: Evaluator = async (genome, key) => {
    const c = space.decode(genome);
    candidates.set(key, c);
    const predicted = predictCandidate(c, opts.predictor, opts.cls, opts.batch ?? 1);
    const pre = budgetViolation(predicted, opts.cls.budgets, opts.teacherAccuracyPct, toleranceOf(opts));
    const metrics = {
      family: c.family,
      spec: c.family === 'student' ? c.studentSpec : c.pruneRatios,
      precisions: c.precisions,
      predicted,
    };
    if (pre.violation > 0)
      return {
        ok: true,
        screened: true,
        objectives: [100, predicted.deviceP95Ms ?? 1e9, predicted.sizeBytes],
        violation: pre.violation,
        metrics: { ...metrics, broken: pre.broken },
      };
    try {
      const built = await opts.builder.build(c, 'search', deadline.search);
      // Its proxy would be a partial one: not recorded, so a resumed search builds it again.
      if (built.cut !== undefined) return { ok: false, cut: true, reason: built.cut, metrics };
      const s = scoreBuilt(built, opts, toleranceOf(opts), 'objective');
      return {
        ok: true,
        objectives: [100 - built.accuracyPct, s.deviceP95Ms ?? 1e9, s.bytes.length],
        violation: s.violation + pre.violation,
        metrics: {
          ...metrics,
          accuracyPct: built.accuracyPct,
          bytes: s.bytes.length,
          hostMs: s.hostMs,
          deviceP95Ms: s.deviceP95Ms,
          energyMj: s.energyMj,
          broken: s.broken,
          notes: built.notes,
        },
      };
    } catch (err: unknown) {
      if (!(err instanceof EdgefleetError)) throw err;
      return { ok: false, reason: `${err.code}: ${err.message}`, metrics };
    }
  };
  const store = opts.storePath
    ? openCandidateStore(opts.storePath, {
        type: 'search',
        v: 1,
        seed: opts.seed,
        space:
          `${space.description}/batch${opts.batch ?? 1}/` +
          `class[${opts.cls.name}:${JSON.stringify(opts.cls.budgets)}:${JSON.stringify(opts.cls.speed)}]/` +
          `${opts.settingsLabel ?? ''}/accuracy-proxy`,
        objectives: [...SEARCH_OBJECTIVES],
      })
    : undefined;
  const initial = singleTechniques(
    space,
    fastestPrecisions(space, (c) => predictCandidate(c, opts.predictor, opts.cls, opts.batch ?? 1).deviceP95Ms),
  );
  const search = await runSearch(space.genes, evaluate, {
    seed: opts.seed,
    maxEvaluations: opts.maxEvaluations,
    initial,
    expired: () => deadline.search.expired(),
    ...stripUndefined({ population: opts.population }),
    ...(store ? { store } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const built = await buildFinalists(search, space, opts, deadline.final);
  return { space, search, ...built, timedOut: search.stopped === 'time' || built.timedOut };
}
