import { createRng, deriveSeed } from '../data/prng.js';
import type { CandidateRecord, CandidateStore } from './candidate-store.js';
import { nonDominatedSort, offspring, rankAndCrowd, selectSurvivors, tournament, type Scored } from './nsga2.js';

/**
 * The search loop: NSGA-II over a space of integer genes, each evaluation scored by a caller's
 * evaluator, stopped by an evaluation budget or a time budget, reporting progress, and resumable
 * through a candidate store. Seeded: the same seed, space and evaluator give the same candidates
 * in the same order, which is also what makes resuming a replay.
 */
export interface Gene {
  readonly name: string;
  /** How many values the gene takes (0 … cardinality − 1); the space decodes them. */
  readonly cardinality: number;
}

/** What an evaluator returns for one genome. */
export type Evaluation =
  | {
      readonly ok: true;
      /** Minimised objectives, in the order the search was configured with. */
      readonly objectives: readonly number[];
      /** Total relative budget excess (0 when every hard constraint holds). */
      readonly violation: number;
      readonly metrics: Readonly<Record<string, unknown>>;
      /**
       * Rejected from predictions alone (e.g. predicted latency over the budget), without
       * building or training anything: recorded, but not counted against the evaluation budget.
       */
      readonly screened?: boolean;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly metrics?: Readonly<Record<string, unknown>>;
      /**
       * Cut short by the search's time limit: not recorded (a resumed search evaluates it again)
       * and the search stops (`stopped: 'time'`).
       */
      readonly cut?: boolean;
    };

export type Evaluator = (genome: readonly number[], key: string) => Promise<Evaluation>;

/** Progress after each candidate. */
export interface SearchProgress {
  /** Candidates built and scored (screened ones not counted). */
  readonly evaluations: number;
  /** Every candidate visited, screened ones included. */
  readonly visited: number;
  readonly maxEvaluations: number;
  readonly generation: number;
  readonly elapsedMs: number;
  readonly feasible: number;
  readonly frontSize: number;
  readonly last: CandidateRecord;
  /** True when the candidate came from the store (a resumed search), not a fresh evaluation. */
  readonly replayed: boolean;
}

export interface SearchSettings {
  readonly seed: number;
  readonly maxEvaluations: number;
  /** Stop starting new evaluations after this long (fresh evaluations only; replayed ones are free). */
  readonly timeBudgetMs?: number;
  /** Stop starting new evaluations once this says so (a caller's wall-clock deadline). */
  readonly expired?: () => boolean;
  /** Population size; default 12. */
  readonly population?: number;
  /** Genomes evaluated first (e.g. the teacher and the single techniques), before random ones. */
  readonly initial?: readonly (readonly number[])[];
  readonly store?: CandidateStore;
  readonly onProgress?: (p: SearchProgress) => void;
  readonly now?: () => number;
}

export interface SearchResult {
  /** Every candidate, in evaluation order (screened ones included). */
  readonly candidates: readonly CandidateRecord[];
  /** Candidates built and scored. */
  readonly evaluations: number;
  /** The feasible non-dominated candidates. */
  readonly front: readonly CandidateRecord[];
  readonly stopped: 'evaluations' | 'time' | 'exhausted';
  readonly generations: number;
  readonly replayed: number;
}

export const genomeKey = (g: readonly number[]): string => g.join('.');

/** A record as NSGA-II scores it (a failed candidate is worst in everything). */
export function scoredOf(r: CandidateRecord): Scored {
  if (r.failed !== undefined || r.violation === null)
    return { objectives: r.objectives.map(() => Infinity), violation: Infinity };
  return { objectives: r.objectives.map((o) => o ?? Infinity), violation: r.violation };
}

/** The feasible first front of a set of records. */
export function paretoFront(records: readonly CandidateRecord[]): CandidateRecord[] {
  const feasible = records.filter((r) => r.failed === undefined && r.violation === 0);
  const first = nonDominatedSort(feasible.map(scoredOf))[0] ?? [];
  return first.map((i) => feasible[i] as CandidateRecord);
}

/** Run the search. */
export async function runSearch(
  genes: readonly Gene[],
  evaluate: Evaluator,
  settings: SearchSettings,
): Promise<SearchResult> {
  const now = settings.now ?? (() => performance.now());
  const rng = createRng(deriveSeed(settings.seed, 'nsga2'));
  const size = settings.population ?? 12;
  const cards = genes.map((g) => g.cardinality);
  const byKey = new Map<string, CandidateRecord>();
  const candidates: CandidateRecord[] = [];
  let spentMs = 0;
  let replayed = 0;
  let generation = 0;
  let stopped: SearchResult['stopped'] | undefined;

  // Screened candidates cost no evaluation, but a space where nearly everything is screened must still end.
  let evaluated = 0;
  const budgetLeft = (): boolean => {
    if (evaluated >= settings.maxEvaluations || candidates.length >= settings.maxEvaluations * 20)
      stopped = 'evaluations';
    else if (settings.timeBudgetMs !== undefined && spentMs >= settings.timeBudgetMs) stopped = 'time';
    else if (settings.expired?.() === true) stopped = 'time';
    return stopped === undefined;
  };

  /**
   * The record of a genome: seen in this run, stored by an earlier run, or evaluated now; undefined when out of budget.
   */
  const visit = async (genome: readonly number[]): Promise<CandidateRecord | undefined> => {
    const key = genomeKey(genome);
    const seen = byKey.get(key);
    if (seen) return seen;
    if (!budgetLeft()) return undefined;
    let record = settings.store?.previous.get(key);
    const fromStore = record !== undefined;
    if (!record) {
      const t0 = now();
      const e = await evaluate(genome, key);
      const seconds = (now() - t0) / 1000;
      spentMs += seconds * 1000;
      if (!e.ok && e.cut === true) {
        stopped = 'time';
        return undefined;
      }
      record = e.ok
        ? {
            type: 'candidate',
            key,
            genome: [...genome],
            objectives: [...e.objectives],
            violation: e.violation,
            metrics: { ...e.metrics },
            seconds,
            ...(e.screened ? { screened: true as const } : {}),
          }
        : {
            type: 'candidate',
            key,
            genome: [...genome],
            objectives: [],
            violation: null,
            failed: e.reason,
            metrics: { ...e.metrics },
            seconds,
          };
      settings.store?.append(record);
    } else replayed++;
    if (!record.screened) evaluated++;
    byKey.set(key, record);
    candidates.push(record);
    settings.onProgress?.({
      evaluations: evaluated,
      visited: candidates.length,
      maxEvaluations: settings.maxEvaluations,
      generation,
      elapsedMs: spentMs,
      feasible: candidates.filter((c) => c.violation === 0).length,
      frontSize: paretoFront(candidates).length,
      last: record,
      replayed: fromStore,
    });
    return record;
  };

  let population: CandidateRecord[] = [];
  const seeds = [...(settings.initial ?? [])];
  for (let attempts = 0; population.length < size && attempts < size * 20; attempts++) {
    const genome = seeds.shift() ?? cards.map((n) => rng.int(n));
    if (population.some((p) => p.key === genomeKey(genome))) continue;
    const r = await visit(genome);
    if (!r) break;
    population.push(r);
  }
  while (stopped === undefined) {
    generation++;
    const { rank, crowding } = rankAndCrowd(population.map(scoredOf));
    const children: CandidateRecord[] = [];
    for (let c = 0; c < size && stopped === undefined; c++) {
      let child: number[] | undefined;
      for (let attempt = 0; attempt < 20 && child === undefined; attempt++) {
        const a = population[tournament(rank, crowding, rng)] as CandidateRecord;
        const b = population[tournament(rank, crowding, rng)] as CandidateRecord;
        // Retries mutate harder: small spaces run out of unseen neighbours of the parents.
        const g = offspring(a.genome, b.genome, cards, rng, (1 + attempt) / Math.max(1, cards.length));
        if (!byKey.has(genomeKey(g))) child = g;
      }
      if (!child) continue;
      const r = await visit(child);
      if (r) children.push(r);
    }
    if (children.length === 0 && stopped === undefined) stopped = 'exhausted';
    const merged = [...population, ...children];
    population = selectSurvivors(merged.map(scoredOf), size).map((i) => merged[i] as CandidateRecord);
  }
  return {
    candidates,
    evaluations: evaluated,
    front: paretoFront(candidates),
    stopped,
    generations: generation,
    replayed,
  };
}
