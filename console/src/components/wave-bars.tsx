/**
 * A rollout's waves as bars that fill as devices finish: one segment per device state,
 * widths proportional to device counts, and a text line per wave saying the same in words.
 */
import type { RolloutStatus } from '../api/endpoints.js';

/** Device states in the order they fill a bar (done first), with their legend names. */
export const DEVICE_STATE_ORDER = [
  ['succeeded', 'succeeded'],
  ['in-progress', 'installing'],
  ['notified', 'notified'],
  ['pending', 'waiting for its wave'],
  ['failed', 'failed'],
  ['timed-out', 'timed out'],
  ['rolling-back', 'rolling back'],
  ['rolled-back', 'rolled back'],
  ['cancelled', 'cancelled'],
] as const;

type Counts = RolloutStatus['waves'][number]['counts'];

function describe(counts: Counts): string {
  return DEVICE_STATE_ORDER.flatMap(([state, label]) =>
    (counts[state] ?? 0) > 0 ? [`${counts[state]} ${label}`] : [],
  ).join(', ');
}

export function WaveBars({ status }: { status: RolloutStatus }) {
  const current = status.rollout.currentWave;
  return (
    <ol class="waves" aria-label="Waves">
      {status.waves.map((w) => {
        const done = w.counts.succeeded ?? 0;
        const label = w.index === 0 ? 'Canary' : `Wave ${w.index + 1}`;
        const phase =
          w.index < current || (w.index === current && status.rollout.state === 'completed')
            ? 'done'
            : w.index === current
              ? 'current'
              : 'later';
        return (
          <li
            key={w.index}
            class={`wave wave-${phase}`}
            data-testid="wave"
            data-wave={w.index}
            data-done={done}
            data-size={w.size}
          >
            <div class="wave-head">
              <span class="wave-name">{label}</span>
              <span class="wave-count">
                {done} of {w.size} updated
              </span>
            </div>
            <div class="wave-bar" aria-hidden="true">
              {DEVICE_STATE_ORDER.map(([state]) => {
                const n = w.counts[state] ?? 0;
                return n > 0 ? (
                  <span
                    key={state}
                    class={`seg seg-${state}`}
                    style={{ width: `${(100 * n) / Math.max(1, w.size)}%` }}
                  />
                ) : null;
              })}
            </div>
            <p class="wave-text">{describe(w.counts) || 'no devices'}</p>
          </li>
        );
      })}
    </ol>
  );
}

export function WaveLegend() {
  return (
    <ul class="legend" aria-label="Device states">
      {DEVICE_STATE_ORDER.map(([state, label]) => (
        <li key={state}>
          <span class={`key seg-${state}`} aria-hidden="true" /> {label}
        </li>
      ))}
    </ul>
  );
}
