import type { CandidateRecord } from './candidate-store.js';
import type { SearchSpace } from './space.js';

/**
 * Does the search beat the single techniques? On the accuracy-vs-predicted-latency plane of one
 * class, the hypervolume (area dominated, above an accuracy floor and below a latency ceiling) of
 * the search's candidates against that of uniform int8 alone and of each single technique alone
 * (quantization: the teacher at one precision; pruning: pruned widths and folded pools in fp32;
 * distillation: a student in fp32). Every point is a built candidate scored the same way (its
 * proxy top-1 and the predictor's latency on its real graph), so the comparison is like for like.
 * Pure.
 */
export interface FrontPoint {
  readonly accuracyPct: number;
  readonly latencyMs: number;
}

export interface FrontComparison {
  /** Area above `floorPct` and below `ceilingMs`, in point·ms. */
  readonly searched: number;
  readonly uniformInt8: number;
  /** Per single technique. */
  readonly single: Readonly<Record<'quantization' | 'pruning' | 'distillation', number>>;
  readonly bestSingle: number;
  /** Searched area over the larger of uniform int8's and the best single technique's (∞ when both are 0). */
  readonly ratio: number;
  /** Candidates combining techniques that dominate (as accurate, faster) at least one single-technique point. */
  readonly combinedPoints: number;
}

/** 2-D hypervolume: maximise accuracy, minimise latency, within the box (floor, ceiling). */
export function hypervolume(points: readonly FrontPoint[], floorPct: number, ceilingMs: number): number {
  const inside = points
    .filter((p) => p.accuracyPct > floorPct && p.latencyMs < ceilingMs)
    .sort((a, b) => a.latencyMs - b.latencyMs || b.accuracyPct - a.accuracyPct);
  let area = 0;
  let best = floorPct;
  // Fastest first: a point covers [its latency, ceiling) up to its accuracy, so the union is a staircase of
  // the points that raise the best accuracy so far, each adding a strip (its gain × its latency's headroom).
  const stairs: FrontPoint[] = [];
  for (const p of inside) {
    if (p.accuracyPct <= best) continue;
    stairs.push(p);
    best = p.accuracyPct;
  }
  for (let i = 0; i < stairs.length; i++) {
    const p = stairs[i] as FrontPoint;
    const below = i === 0 ? floorPct : (stairs[i - 1] as FrontPoint).accuracyPct;
    area += (p.accuracyPct - below) * (ceilingMs - p.latencyMs);
  }
  return area;
}

/** Which single technique a candidate is, or 'combined' (or 'teacher'). */
export function techniqueOf(
  r: CandidateRecord,
  space: SearchSpace,
): 'teacher' | 'quantization' | 'pruning' | 'distillation' | 'combined' {
  const c = space.decode(r.genome);
  const uniform = c.precisions.every((p) => p === c.precisions[0]);
  const float = c.precisions.every((p) => p === 'fp32');
  const reshaped = c.widths.some((w) => w < 1) || c.downsample.some((d) => d === 'strided');
  if (c.family === 'student') return float ? 'distillation' : 'combined';
  if (!reshaped) return float ? 'teacher' : uniform ? 'quantization' : 'combined';
  return float ? 'pruning' : 'combined';
}

/** The point of a built, scored record (undefined when it was screened or failed). */
export function pointOf(r: CandidateRecord): FrontPoint | undefined {
  if (r.screened || r.failed !== undefined) return undefined;
  const acc = r.metrics.accuracyPct;
  const ms = r.metrics.deviceP95Ms;
  return typeof acc === 'number' && typeof ms === 'number' ? { accuracyPct: acc, latencyMs: ms } : undefined;
}

/** Compare the search's candidates with uniform int8 and the single techniques among them. */
export function compareFronts(
  records: readonly CandidateRecord[],
  space: SearchSpace,
  box: { readonly floorPct: number; readonly ceilingMs: number },
): FrontComparison {
  const built = records.flatMap((r) => {
    const p = pointOf(r);
    return p ? [{ p, technique: techniqueOf(r, space), c: space.decode(r.genome) }] : [];
  });
  const hv = (ps: readonly FrontPoint[]) => hypervolume(ps, box.floorPct, box.ceilingMs);
  const int8 = built.filter((b) => b.technique === 'quantization' && b.c.precisions.every((p) => p === 'int8'));
  const single = {
    quantization: hv(built.filter((b) => b.technique === 'quantization').map((b) => b.p)),
    pruning: hv(built.filter((b) => b.technique === 'pruning').map((b) => b.p)),
    distillation: hv(built.filter((b) => b.technique === 'distillation').map((b) => b.p)),
  };
  const searched = hv(built.map((b) => b.p));
  const uniformInt8 = hv(int8.map((b) => b.p));
  const bestSingle = Math.max(...Object.values(single));
  const against = Math.max(uniformInt8, bestSingle);
  const baselines = built.filter((b) => b.technique !== 'combined' && b.technique !== 'teacher').map((b) => b.p);
  const combinedPoints = built.filter(
    (b) =>
      b.technique === 'combined' &&
      baselines.some((q) => b.p.accuracyPct >= q.accuracyPct && b.p.latencyMs < q.latencyMs),
  ).length;
  return {
    searched,
    uniformInt8,
    single,
    bestSingle,
    ratio: against > 0 ? searched / against : Number.POSITIVE_INFINITY,
    combinedPoints,
  };
}
