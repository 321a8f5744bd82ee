/**
 * The geometry of the Pareto plot, apart from its drawing: which candidates can be plotted,
 * the accuracy floor, axis scales and ticks, and where each point's label goes. Pure, so the
 * console's unit tests can check it.
 */
import type { PlanCandidate, StoredPlan } from '../api/endpoints.js';

export interface PlotPoint {
  readonly candidate: PlanCandidate;
  readonly latencyMs: number;
  readonly accuracyPct: number;
}

/** The plot's size in SVG units and its margins. */
export const W = 760;
export const H = 420;
export const M = { top: 24, right: 28, bottom: 56, left: 88 };

/** Candidates that can be drawn: built, predicted and evaluated. */
export function plotPoints(plan: StoredPlan['plan']): PlotPoint[] {
  return plan.candidates.flatMap((c) =>
    c.predicted && c.accuracyPct !== null
      ? [{ candidate: c, latencyMs: c.predicted.p95LatencyMs, accuracyPct: c.accuracyPct }]
      : [],
  );
}

/** The accuracy a plan must reach: an absolute floor, or the original's accuracy minus the allowed drop. */
export function accuracyFloor(plan: StoredPlan['plan']): number | null {
  if (plan.budgets.minAccuracyPct !== undefined) return plan.budgets.minAccuracyPct;
  if (plan.budgets.maxAccuracyDropPts !== undefined && plan.baseline.accuracyPct !== null)
    return plan.baseline.accuracyPct - plan.budgets.maxAccuracyDropPts;
  return null;
}

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => span / s <= 6) ?? mag * 10;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** 1-2-5 ticks per decade, for a log axis. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1)
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  return ticks;
}

export interface Scales {
  x(v: number): number;
  y(v: number): number;
  xTicks: number[];
  yTicks: number[];
  log: boolean;
  /** The accuracy floor, when it lies inside the plotted range. */
  floorInView: boolean;
}

export function scales(points: readonly PlotPoint[], budgetMs: number | null, floor: number | null): Scales {
  const xs = points.map((p) => p.latencyMs);
  if (budgetMs !== null) xs.push(budgetMs);
  const accs = points.map((p) => p.accuracyPct);
  const accSpan = Math.max(...accs) - Math.min(...accs);
  // Show the floor when it does not squash the points into a sliver (within 4× their spread, or 2 points).
  const floorInView = floor !== null && Math.min(...accs) - floor <= Math.max(2, accSpan * 4);
  if (floorInView && floor !== null) accs.push(floor);
  const log = Math.max(...xs) / Math.min(...xs) > 8;
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (log) {
    x0 /= 1.4;
    x1 *= 1.4;
  } else {
    const pad = (x1 - x0) * 0.12 || x1 * 0.2 || 1;
    x0 = Math.max(0, x0 - pad);
    x1 += pad;
  }
  const ySpan = Math.max(...accs) - Math.min(...accs);
  const yPad = Math.max(ySpan * 0.15, 0.25);
  const y0 = Math.max(0, Math.min(...accs) - yPad);
  const y1 = Math.min(100, Math.max(...accs) + yPad);
  const px = (v: number) =>
    log
      ? M.left + ((Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0))) * (W - M.left - M.right)
      : M.left + ((v - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((v - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  return {
    x: px,
    y: py,
    xTicks: log ? logTicks(x0, x1) : niceTicks(x0, x1),
    yTicks: niceTicks(y0, y1),
    log,
    floorInView,
  };
}

export interface LabelSpot {
  readonly dx: number;
  readonly dy: number;
  readonly anchor: 'start' | 'middle' | 'end';
}

/** Where a label may go around its point, in order of preference. */
export const SPOTS: readonly LabelSpot[] = [
  { dx: 0, dy: -16, anchor: 'middle' },
  // Beside its point before below it: a label centred under a neighbour reads as the neighbour's.
  { dx: 14, dy: 5, anchor: 'start' },
  { dx: 0, dy: 28, anchor: 'middle' },
  { dx: -14, dy: 5, anchor: 'end' },
  { dx: 14, dy: -12, anchor: 'start' },
  { dx: 0, dy: -32, anchor: 'middle' },
  { dx: 0, dy: 44, anchor: 'middle' },
  { dx: -14, dy: 22, anchor: 'end' },
];
const CHAR_W = 7;
const LABEL_H = 14;

/**
 * Greedy label placement: each point (fastest first) takes the first spot whose box overlaps
 * no label placed before it and no marker, so close variants stay readable.
 */
export function placeLabels(
  points: ReadonlyArray<{ key: string; x: number; y: number; text: string }>,
): Map<string, LabelSpot> {
  type Box = { x0: number; x1: number; y0: number; y1: number };
  const boxes: Box[] = points.map((p) => ({ x0: p.x - 9, x1: p.x + 9, y0: p.y - 9, y1: p.y + 9 }));
  const hit = (a: Box) => boxes.some((b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1);
  const placed = new Map<string, LabelSpot>();
  for (const p of points) {
    const w = p.text.length * CHAR_W;
    const boxOf = (s: LabelSpot): Box => {
      const x0 = s.anchor === 'start' ? p.x + s.dx : s.anchor === 'end' ? p.x + s.dx - w : p.x - w / 2;
      return { x0, x1: x0 + w, y0: p.y + s.dy - LABEL_H + 3, y1: p.y + s.dy + 3 };
    };
    const spot = SPOTS.find((s) => !hit(boxOf(s))) ?? (SPOTS[0] as LabelSpot);
    boxes.push(boxOf(spot));
    placed.set(p.key, spot);
  }
  return placed;
}
