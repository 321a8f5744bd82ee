/**
 * A device's telemetry windows as three charts, each against the limit the device is judged
 * on: the server's budget check when it has one (what the loop acts on), else the class
 * budget. Each chart says in words where the device stands, and the last windows are also
 * a table for anyone who cannot or would rather not read a chart.
 */
import type { Budgets } from '@edgefleet/shared/budgets';
import type { DeviceTelemetry, TelemetryWindow } from '../api/endpoints.js';
import { formatMs, formatPct, formatTime, formatWatts } from '../format.js';
import { TimeSeriesChart } from './time-series-chart.js';

const COLORS = { p50: '#2f6fb0', p95: '#1c3d66', power: '#8a4b00', accuracy: '#1f7a3d' };

function limitOf(telemetry: DeviceTelemetry, budget: string): number | null {
  return telemetry.status?.checks.find((c) => c.budget === budget)?.limit ?? null;
}

function overCount(values: ReadonlyArray<number | null>, limit: number | null, direction: 'max' | 'min'): number {
  if (limit === null) return 0;
  return values.filter((v) => v !== null && (direction === 'max' ? v > limit : v < limit)).length;
}

function summarize(
  what: string,
  values: ReadonlyArray<number | null>,
  limit: number | null,
  direction: 'max' | 'min',
  format: (v: number) => string,
): string {
  const latest = [...values].reverse().find((v) => v !== null) ?? null;
  if (latest === null) return `No ${what} reported yet.`;
  const head = `Latest ${what} ${format(latest)}`;
  if (limit === null) return `${head}; no budget applies.`;
  const over = overCount(values, limit, direction);
  const side = direction === 'max' ? 'above' : 'below';
  return `${head} against a budget of ${format(limit)}; ${over} of ${values.length} windows ${side} it.`;
}

/** The accuracy chart's summary: against the floor when the class sets one, else why no floor is watched. */
function accuracySummary(
  accuracy: ReadonlyArray<number | null>,
  floor: number | null,
  maxDropPts: number | undefined,
): string {
  const format = (v: number): string => formatPct(v, 1);
  if (floor !== null || maxDropPts === undefined) return summarize('accuracy', accuracy, floor, 'min', format);
  const latest = summarize('accuracy', accuracy, null, 'min', format).replace('; no budget applies.', '');
  return (
    `${latest}; the class limits accuracy as a drop from the original model (≤ ${maxDropPts} pts), ` +
    'which the planner judges; devices are not watched against a floor.'
  );
}

function WindowTable({ windows }: { windows: readonly TelemetryWindow[] }) {
  const last = windows.slice(-15).reverse();
  return (
    <details class="window-table">
      <summary>The last {last.length} windows as a table</summary>
      <table class="table">
        <thead>
          <tr>
            <th scope="col">Window end</th>
            <th scope="col" class="num">
              p50
            </th>
            <th scope="col" class="num">
              p95
            </th>
            <th scope="col" class="num">
              Power
            </th>
            <th scope="col" class="num">
              Accuracy
            </th>
            <th scope="col">Throttled</th>
            <th scope="col">Variant</th>
          </tr>
        </thead>
        <tbody>
          {last.map((w) => (
            <tr key={w.seq}>
              <td>{formatTime(w.windowEnd)}</td>
              <td class="num">{formatMs(w.p50Ms)}</td>
              <td class="num">{formatMs(w.p95Ms)}</td>
              <td class="num">{formatWatts(w.powerW)}</td>
              <td class="num">{w.goldenAccuracy === null ? '–' : formatPct(w.goldenAccuracy * 100, 1)}</td>
              <td>{w.throttled ? 'yes' : 'no'}</td>
              <td>
                <code>{w.variantId ?? '–'}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export function TelemetryCharts({ telemetry, budgets }: { telemetry: DeviceTelemetry; budgets: Budgets }) {
  const w = telemetry.windows;
  if (w.length === 0) return <p class="muted">No telemetry windows in the last 30 minutes.</p>;
  const times = w.map((x) => x.windowEnd);
  const p50 = w.map((x) => x.p50Ms);
  const p95 = w.map((x) => x.p95Ms);
  const power = w.map((x) => x.powerW);
  const accuracy = w.map((x) => (x.goldenAccuracy === null ? null : x.goldenAccuracy * 100));
  const latencyLimit = limitOf(telemetry, 'latencyP95Ms') ?? budgets.maxP95LatencyMs ?? null;
  const powerLimit = limitOf(telemetry, 'powerW') ?? budgets.maxAvgPowerW ?? null;
  const accuracyCheck = limitOf(telemetry, 'minAccuracy');
  const accuracyLimit = accuracyCheck === null ? (budgets.minAccuracyPct ?? null) : accuracyCheck * 100;
  const modelled = w.some((x) => x.powerSource === 'modelled');
  const throttled = w.filter((x) => x.throttled).length;
  return (
    <>
      {throttled > 0 ? (
        <p class="notice notice-warn">
          {throttled} of {w.length} windows were reported thermally throttled.
        </p>
      ) : null}
      <div class="chart-grid">
        <TimeSeriesChart
          id="latency"
          title="Latency per window (p50 and p95)"
          times={times}
          series={[
            { label: 'p50', values: p50, color: COLORS.p50, dash: [3, 3] },
            { label: 'p95', values: p95, color: COLORS.p95 },
          ]}
          budget={latencyLimit === null ? null : { label: 'p95 budget', value: latencyLimit }}
          format={formatMs}
          unit="ms"
          summary={summarize('p95 latency', p95, latencyLimit, 'max', formatMs)}
        />
        <TimeSeriesChart
          id="power"
          title={`Average power${modelled ? ' (modelled, not measured)' : ''}`}
          times={times}
          series={[{ label: 'power', values: power, color: COLORS.power }]}
          budget={powerLimit === null ? null : { label: 'power budget', value: powerLimit }}
          format={formatWatts}
          unit="W"
          summary={summarize('power', power, powerLimit, 'max', formatWatts)}
        />
        <TimeSeriesChart
          id="accuracy"
          title="Golden-set accuracy"
          times={times}
          series={[{ label: 'accuracy', values: accuracy, color: COLORS.accuracy }]}
          budget={accuracyLimit === null ? null : { label: 'accuracy floor', value: accuracyLimit }}
          format={(v) => formatPct(v, 1)}
          unit="%"
          maxY={100}
          summary={accuracySummary(accuracy, accuracyLimit, budgets.maxAccuracyDropPts)}
        />
      </div>
      <WindowTable windows={w} />
    </>
  );
}
