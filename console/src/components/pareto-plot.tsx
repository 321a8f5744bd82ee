/**
 * A plan as a picture: accuracy against predicted device latency, one point per variant, the
 * Pareto front as a line, and the class's budgets as dashed lines. Points are SVG buttons:
 * Tab reaches each one, Enter or Space selects it for inspection. SVG rather than a chart
 * library, because a plan has a handful of points and each must be a focusable control.
 */
import type { PlanCandidate, StoredPlan } from '../api/endpoints.js';
import { formatMs, formatPct, tickDecimals } from '../format.js';

export interface PlotPoint {
  readonly candidate: PlanCandidate;
  readonly latencyMs: number;
  readonly accuracyPct: number;
}

export interface ParetoPlotProps {
  readonly plan: StoredPlan['plan'];
  readonly selected: string | null;
  /** Artifact sha the class runs now (its latest completed rollout), to mark that point. */
  readonly currentSha: string | null;
  onSelect(recipe: string): void;
}

const W = 760;
const H = 420;
const M = { top: 24, right: 28, bottom: 56, left: 88 };

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
function niceTicks(lo: number, hi: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => span / s <= 6) ?? mag * 10;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1)
    for (const f of [1, 2, 5]) {
      const v = f * 10 ** e;
      if (v >= lo && v <= hi) ticks.push(v);
    }
  return ticks;
}

interface Scales {
  x(v: number): number;
  y(v: number): number;
  xTicks: number[];
  yTicks: number[];
  log: boolean;
  /** The accuracy floor, when it lies inside the plotted range. */
  floorInView: boolean;
}

function scales(points: readonly PlotPoint[], budgetMs: number | null, floor: number | null): Scales {
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

interface LabelSpot {
  readonly dx: number;
  readonly dy: number;
  readonly anchor: 'start' | 'middle' | 'end';
}

/** Where a label may go around its point, in order of preference. */
const SPOTS: readonly LabelSpot[] = [
  { dx: 0, dy: -16, anchor: 'middle' },
  { dx: 0, dy: 28, anchor: 'middle' },
  { dx: 14, dy: 5, anchor: 'start' },
  { dx: -14, dy: 5, anchor: 'end' },
  { dx: 0, dy: -32, anchor: 'middle' },
  { dx: 0, dy: 44, anchor: 'middle' },
  { dx: 14, dy: -12, anchor: 'start' },
  { dx: -14, dy: 22, anchor: 'end' },
];
const CHAR_W = 7;
const LABEL_H = 14;

/**
 * Greedy label placement: each point (fastest first) takes the first spot whose box overlaps
 * no label placed before it and no marker, so close variants stay readable.
 */
function placeLabels(
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

function pointLabel(p: PlotPoint, plan: StoredPlan['plan'], currentSha: string | null): string {
  const c = p.candidate;
  const tags = [
    c.onFront ? 'on the Pareto front' : 'not on the front',
    c.feasible ? 'within budgets' : `breaks ${c.violations.map((v) => v.budget).join(', ')}`,
    plan.chosen === c.recipe ? 'the planner’s choice' : null,
    currentSha !== null && c.artifactSha === currentSha ? 'running on the class now' : null,
  ].filter((t) => t !== null);
  return `${c.recipe} (${c.precision}): accuracy ${formatPct(p.accuracyPct)}, predicted p95 ${formatMs(p.latencyMs)}; ${tags.join('; ')}`;
}

function Marker({ p, selected, chosen }: { p: PlotPoint; selected: boolean; chosen: boolean }) {
  const c = p.candidate;
  const cls = `point ${c.onFront ? 'point-front' : 'point-off'} ${c.feasible ? '' : 'point-infeasible'}`;
  return (
    <>
      {selected ? <circle r={15} class="point-selected" /> : null}
      {chosen ? <circle r={11} class="point-chosen" /> : null}
      <circle r={7} class={cls} />
      {c.feasible ? null : <path d="M-4,-4L4,4M4,-4L-4,4" class="point-cross" />}
    </>
  );
}

export function ParetoPlot({ plan, selected, currentSha, onSelect }: ParetoPlotProps) {
  const points = plotPoints(plan);
  if (points.length === 0) return <p class="muted">No variant of this plan has a prediction to plot.</p>;
  const budgetMs = plan.budgets.maxP95LatencyMs ?? null;
  const floor = accuracyFloor(plan);
  const s = scales(points, budgetMs, floor);
  const labelText = (p: PlotPoint) =>
    `${p.candidate.recipe}${currentSha !== null && p.candidate.artifactSha === currentSha ? ' · now' : ''}`;
  const spots = placeLabels(
    [...points]
      .sort((a, b) => a.latencyMs - b.latencyMs)
      .map((p) => ({ key: p.candidate.recipe, x: s.x(p.latencyMs), y: s.y(p.accuracyPct), text: labelText(p) })),
  );
  const front = points.filter((p) => p.candidate.onFront).sort((a, b) => a.latencyMs - b.latencyMs);
  // A staircase through the front: from each variant right to the next's latency, then up to its accuracy.
  const frontPath = front
    .map((p, i) => `${i === 0 ? 'M' : 'H'}${s.x(p.latencyMs)}${i === 0 ? ',' : 'V'}${s.y(p.accuracyPct)}`)
    .join('');
  return (
    <figure class="pareto" aria-labelledby="pareto-title">
      <figcaption id="pareto-title" class="chart-title">
        Accuracy against predicted p95 latency on {plan.deviceClass.name}
        {s.log ? ' (latency on a log scale)' : ''}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} class="pareto-svg">
        <title>Variants of the plan; each point is a button that shows the variant</title>
        {/* Axes, budget lines and the front are drawing only; the points below carry the information. */}
        {/* biome-ignore lint/a11y/noAriaHiddenOnFocusable: a <g> of lines and text is not focusable */}
        <g aria-hidden="true">
          <g class="axis">
            {s.xTicks.map((t) => (
              <g key={`x${t}`}>
                <line x1={s.x(t)} x2={s.x(t)} y1={M.top} y2={H - M.bottom} class="grid" />
                <text x={s.x(t)} y={H - M.bottom + 20} text-anchor="middle">
                  {formatMs(t)}
                </text>
              </g>
            ))}
            {s.yTicks.map((t) => (
              <g key={`y${t}`}>
                <line x1={M.left} x2={W - M.right} y1={s.y(t)} y2={s.y(t)} class="grid" />
                <text x={M.left - 8} y={s.y(t) + 4} text-anchor="end">
                  {formatPct(t, tickDecimals(s.yTicks))}
                </text>
              </g>
            ))}
            <text x={(M.left + W - M.right) / 2} y={H - 10} text-anchor="middle" class="axis-title">
              predicted p95 latency on the device (modelled) →
            </text>
            <text
              x={18}
              y={(M.top + H - M.bottom) / 2}
              text-anchor="middle"
              class="axis-title"
              transform={`rotate(-90 18 ${(M.top + H - M.bottom) / 2})`}
            >
              accuracy →
            </text>
          </g>
          <g class="budgets">
            {budgetMs !== null ? (
              <>
                <line x1={s.x(budgetMs)} x2={s.x(budgetMs)} y1={M.top} y2={H - M.bottom} class="budget-line" />
                {/* The label sits on whichever side of the line has room. */}
                <text
                  x={s.x(budgetMs) > W * 0.7 ? s.x(budgetMs) - 6 : s.x(budgetMs) + 6}
                  y={M.top + 12}
                  text-anchor={s.x(budgetMs) > W * 0.7 ? 'end' : 'start'}
                  class="budget-label"
                >
                  p95 budget {formatMs(budgetMs)}
                </text>
              </>
            ) : null}
            {floor !== null && s.floorInView ? (
              <>
                <line x1={M.left} x2={W - M.right} y1={s.y(floor)} y2={s.y(floor)} class="budget-line" />
                <text x={W - M.right - 6} y={s.y(floor) - 6} text-anchor="end" class="budget-label">
                  accuracy floor {formatPct(floor, 1)}
                </text>
              </>
            ) : null}
          </g>
          {front.length > 1 ? <path d={frontPath} class="front-line" /> : null}
        </g>
        {points.map((p) => {
          const c = p.candidate;
          const isSelected = selected === c.recipe;
          const current = currentSha !== null && c.artifactSha === currentSha;
          const spot = spots.get(c.recipe) ?? (SPOTS[0] as LabelSpot);
          return (
            // biome-ignore lint/a11y/useSemanticElements: an SVG point cannot be a <button>; role, tabindex and keys make it one
            <g
              key={c.recipe}
              role="button"
              tabIndex={0}
              aria-pressed={isSelected}
              aria-label={pointLabel(p, plan, currentSha)}
              class="point-group"
              data-recipe={c.recipe}
              transform={`translate(${s.x(p.latencyMs)},${s.y(p.accuracyPct)})`}
              onClick={() => onSelect(c.recipe)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onSelect(c.recipe);
                }
              }}
            >
              <Marker p={p} selected={isSelected} chosen={plan.chosen === c.recipe} />
              <text x={spot.dx} y={spot.dy} text-anchor={spot.anchor} class="point-label">
                {c.recipe}
                {current ? <tspan class="point-now"> · now</tspan> : null}
              </text>
            </g>
          );
        })}
      </svg>
      {floor !== null && !s.floorInView ? (
        <p class="muted">The accuracy floor ({formatPct(floor, 1)}) lies far below every variant; it is not drawn.</p>
      ) : null}
      <ul class="legend" aria-label="Legend">
        <li>
          <span class="key key-front" aria-hidden="true" /> on the Pareto front
        </li>
        <li>
          <span class="key key-off" aria-hidden="true" /> dominated
        </li>
        <li>
          <span class="key key-infeasible" aria-hidden="true" /> breaks a budget
        </li>
        <li>
          <span class="key key-chosen" aria-hidden="true" /> planner’s choice
        </li>
        <li>
          <strong class="point-now">· now</strong> running on the class
        </li>
        <li>
          <span class="key key-budget" aria-hidden="true" /> budget
        </li>
      </ul>
    </figure>
  );
}
