/**
 * A telemetry time series drawn by uPlot (canvas, fast with thousands of points), with the
 * budget as a dashed line in the legend. The canvas is hidden from screen readers; the
 * figure's caption and `summary` say in words what the chart shows.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { tickDecimals } from '../format.js';

export interface ChartSeries {
  readonly label: string;
  readonly values: ReadonlyArray<number | null>;
  readonly color: string;
  readonly dash?: number[];
}

export interface TimeSeriesChartProps {
  readonly id: string;
  readonly title: string;
  /** Times in ms (server clock), one per value. */
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  /** The budget line, if the device is judged on one. */
  readonly budget?: { readonly label: string; readonly value: number } | null;
  readonly format: (value: number) => string;
  /** Unit for the y-axis labels (their decimals follow the tick spacing). */
  readonly unit: string;
  /** Highest value the y-axis may show (100 for percentages). */
  readonly maxY?: number;
  /** One sentence for screen readers and for anyone who prefers words to lines. */
  readonly summary: string;
  readonly height?: number;
}

const BUDGET_COLOR = '#b42318';

/** Axis labels with just enough decimals to tell neighbouring ticks apart. */
function axisLabels(splits: readonly number[], unit: string): string[] {
  const decimals = tickDecimals(splits);
  return splits.map((v) => `${v.toFixed(decimals)} ${unit}`);
}

/** 24-hour clock labels for the time axis. */
function clockLabels(splits: readonly number[]): string[] {
  return splits.map((v) => new Date(v).toLocaleTimeString([], { hour12: false }));
}

function buildData(props: TimeSeriesChartProps): uPlot.AlignedData {
  const columns: Array<Array<number | null>> = [[...props.times]];
  for (const s of props.series) columns.push([...s.values]);
  if (props.budget) columns.push(props.times.map(() => props.budget?.value ?? null));
  return columns as unknown as uPlot.AlignedData;
}

function buildOptions(props: TimeSeriesChartProps, width: number): uPlot.Options {
  const fmt = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : props.format(v));
  const series: uPlot.Series[] = [
    { label: 'time' },
    ...props.series.map((s) => ({
      label: s.label,
      stroke: s.color,
      width: 2,
      spanGaps: false,
      value: fmt,
      points: { show: false },
      ...(s.dash ? { dash: s.dash } : {}),
    })),
  ];
  if (props.budget)
    series.push({
      label: props.budget.label,
      stroke: BUDGET_COLOR,
      width: 2,
      dash: [8, 5],
      value: fmt,
      points: { show: false },
    });
  return {
    width,
    height: props.height ?? 220,
    ms: 1,
    series,
    scales: {
      x: { time: true },
      // Keep the budget line in view, with some room above the highest point.
      y: {
        range: (_u, min, max) => {
          const lo = Math.min(min, props.budget?.value ?? min);
          const hi = Math.max(max, props.budget?.value ?? max);
          // At least ±5 % of the value: a 0.1 % wobble should look like one, not fill the chart.
          const pad = Math.max((hi - lo) * 0.12, Math.abs(hi) * 0.05) || 1;
          return [Math.max(0, lo - pad), Math.min(props.maxY ?? Number.POSITIVE_INFINITY, hi + pad)];
        },
      },
    },
    axes: [
      {
        stroke: '#3d4451',
        grid: { stroke: '#e6e8ec' },
        ticks: { stroke: '#c9cdd4' },
        values: (_u, splits) => clockLabels(splits),
        // hh:mm:ss needs room: at most one label per 90 px.
        space: 90,
      },
      {
        stroke: '#3d4451',
        size: 72,
        grid: { stroke: '#e6e8ec' },
        ticks: { stroke: '#c9cdd4' },
        values: (_u, splits) => axisLabels(splits, props.unit),
      },
    ],
    // The legend is a key (no values); the figure's summary and the window table give the numbers.
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
  };
}

export function TimeSeriesChart(props: TimeSeriesChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${props.series.map((s) => s.label).join('|')}|${props.budget ? 'b' : ''}`;

  // (Re)create the plot when its shape changes; otherwise only the data is swapped.
  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    plot.current = new uPlot(buildOptions(props, Math.max(240, el.clientWidth)), buildData(props), el);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: props.height ?? 220 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(buildData(props));
  });

  return (
    <figure class="chart" aria-labelledby={`${props.id}-title`}>
      <figcaption id={`${props.id}-title`} class="chart-title">
        {props.title}
      </figcaption>
      <p class="chart-summary">{props.summary}</p>
      <div ref={holder} class="chart-canvas" aria-hidden="true" data-testid={`${props.id}-chart`} />
    </figure>
  );
}
