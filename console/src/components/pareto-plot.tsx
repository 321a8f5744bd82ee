/**
 * A plan as a picture: accuracy against predicted device latency, one point per variant, the
 * Pareto front as a line, and the class's budgets as dashed lines. Points are SVG buttons:
 * Tab reaches each one, Enter or Space selects it for inspection. SVG rather than a chart
 * library, because a plan has a handful of points and each must be a focusable control.
 */
import type { StoredPlan } from '../api/endpoints.js';
import { formatMs, formatPct, tickDecimals } from '../format.js';
import {
  accuracyFloor,
  H,
  type LabelSpot,
  M,
  placeLabels,
  type PlotPoint,
  plotPoints,
  SPOTS,
  scales,
  W,
} from './plot-layout.js';

export interface ParetoPlotProps {
  readonly plan: StoredPlan['plan'];
  readonly selected: string | null;
  /** Artifact sha the class runs now (its latest completed rollout), to mark that point. */
  readonly currentSha: string | null;
  onSelect(recipe: string): void;
}

function pointLabel(p: PlotPoint, plan: StoredPlan['plan'], currentSha: string | null): string {
  const c = p.candidate;
  const tags = [
    c.onFront ? 'on the Pareto front' : 'not on the front',
    c.feasible ? 'within budgets' : `breaks ${c.violations.map((v) => v.budget).join(', ')}`,
    plan.chosen === c.recipe ? 'the planner’s choice' : null,
  ].filter((t) => t !== null);
  // Starts with the visible label (recipe, and `· now` when running), so speech input can name the point.
  const visible = `${c.recipe}${currentSha !== null && c.artifactSha === currentSha ? ' · now' : ''}`;
  return (
    `${visible} (${c.precision}): accuracy ${formatPct(p.accuracyPct)}, predicted p95 ${formatMs(p.latencyMs)}; ` +
    `${tags.join('; ')}`
  );
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
            // An SVG point cannot be a <button>: role, tabindex and keys make it one.
            // biome-ignore lint/a11y/useSemanticElements: an SVG point, made a button by role, tabindex and keys
            <g
              key={c.recipe}
              role="button"
              // Lower case on purpose: Preact sets SVG attributes verbatim, and SVG ignores `tabIndex`.
              tabindex={0}
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
