import type { Rng } from '../data/prng.js';

/**
 * NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002) over integer genomes, with Deb's constrained
 * domination: a feasible candidate beats an infeasible one, two infeasible ones compare by total
 * violation, two feasible ones by Pareto dominance. Every objective is minimised. Pure apart
 * from the injected generator.
 */
export interface Scored {
  /** Objective values, all minimised. */
  readonly objectives: readonly number[];
  /** Total constraint violation; 0 means feasible. */
  readonly violation: number;
}

/** Pareto dominance on objectives: no worse in all, better in at least one. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x > y) return false;
    if (x < y) better = true;
  }
  return better;
}

/** Deb's constrained domination. */
export function constrainedDominates(a: Scored, b: Scored): boolean {
  if (a.violation === 0 && b.violation > 0) return true;
  if (a.violation > 0 && b.violation === 0) return false;
  if (a.violation > 0 && b.violation > 0) return a.violation < b.violation;
  return dominates(a.objectives, b.objectives);
}

/** Fast non-dominated sort: indices per front, best front first. */
export function nonDominatedSort(items: readonly Scored[]): number[][] {
  const dominatedBy = items.map(() => 0);
  const dominating: number[][] = items.map(() => []);
  const fronts: number[][] = [[]];
  for (let p = 0; p < items.length; p++) {
    for (let q = 0; q < items.length; q++) {
      if (p === q) continue;
      if (constrainedDominates(items[p] as Scored, items[q] as Scored)) (dominating[p] as number[]).push(q);
      else if (constrainedDominates(items[q] as Scored, items[p] as Scored))
        dominatedBy[p] = (dominatedBy[p] as number) + 1;
    }
    if (dominatedBy[p] === 0) (fronts[0] as number[]).push(p);
  }
  for (let f = 0; (fronts[f] as number[]).length > 0; f++) {
    const next: number[] = [];
    for (const p of fronts[f] as number[])
      for (const q of dominating[p] as number[]) {
        dominatedBy[q] = (dominatedBy[q] as number) - 1;
        if (dominatedBy[q] === 0) next.push(q);
      }
    fronts.push(next);
  }
  fronts.pop();
  return fronts;
}

/** Crowding distance of each member of one front (boundary points get Infinity). */
export function crowdingDistance(items: readonly Scored[], front: readonly number[]): Map<number, number> {
  const d = new Map(front.map((i) => [i, 0]));
  const m = items[front[0] ?? 0]?.objectives.length ?? 0;
  for (let k = 0; k < m; k++) {
    const sorted = [...front].sort(
      (a, b) => ((items[a] as Scored).objectives[k] as number) - ((items[b] as Scored).objectives[k] as number),
    );
    const lo = (items[sorted[0] as number] as Scored).objectives[k] as number;
    const hi = (items[sorted[sorted.length - 1] as number] as Scored).objectives[k] as number;
    d.set(sorted[0] as number, Infinity);
    d.set(sorted[sorted.length - 1] as number, Infinity);
    if (hi === lo) continue;
    for (let i = 1; i < sorted.length - 1; i++) {
      const prev = (items[sorted[i - 1] as number] as Scored).objectives[k] as number;
      const next = (items[sorted[i + 1] as number] as Scored).objectives[k] as number;
      const idx = sorted[i] as number;
      d.set(idx, (d.get(idx) as number) + (next - prev) / (hi - lo));
    }
  }
  return d;
}

/** Rank (front number) and crowding of every item. */
export function rankAndCrowd(items: readonly Scored[]): { rank: number[]; crowding: number[] } {
  const rank = items.map(() => 0);
  const crowding = items.map(() => 0);
  nonDominatedSort(items).forEach((front, f) => {
    const cd = crowdingDistance(items, front);
    for (const i of front) {
      rank[i] = f;
      crowding[i] = cd.get(i) as number;
    }
  });
  return { rank, crowding };
}

/** The `size` survivors of a merged population: whole fronts, then the least crowded of the last. */
export function selectSurvivors(items: readonly Scored[], size: number): number[] {
  const out: number[] = [];
  for (const front of nonDominatedSort(items)) {
    if (out.length + front.length <= size) {
      out.push(...front);
      continue;
    }
    const cd = crowdingDistance(items, front);
    // Ties broken by index so the order never depends on the sort's stability.
    const byCrowding = [...front].sort((a, b) => (cd.get(b) as number) - (cd.get(a) as number) || a - b);
    out.push(...byCrowding.slice(0, size - out.length));
    break;
  }
  return out;
}

/** Binary tournament on (rank, crowding): the index of the winner. */
export function tournament(rank: readonly number[], crowding: readonly number[], rng: Rng): number {
  const a = rng.int(rank.length);
  const b = rng.int(rank.length);
  if ((rank[a] as number) !== (rank[b] as number)) return (rank[a] as number) < (rank[b] as number) ? a : b;
  return (crowding[a] as number) >= (crowding[b] as number) ? a : b;
}

/** Uniform crossover, then each gene resampled with probability `mutation` (default 1/length). */
export function offspring(
  a: readonly number[],
  b: readonly number[],
  cardinalities: readonly number[],
  rng: Rng,
  mutation = 1 / Math.max(1, cardinalities.length),
): number[] {
  return cardinalities.map((n, i) => {
    let g = rng.next() < 0.5 ? (a[i] as number) : (b[i] as number);
    if (n > 1 && rng.next() < mutation) {
      // Another value, never the same one: a mutation that changes nothing wastes an evaluation.
      g = (g + 1 + rng.int(n - 1)) % n;
    }
    return g;
  });
}
