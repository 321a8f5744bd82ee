/**
 * `edgefleet rollout status ID --watch` (issue 21): follows a rollout until it ends, one line per
 * change: the wave, how full it is, and the device counts per state; then the final table.
 * Polls `GET /v1/rollouts/{id}` (per-device states are not events), so it works the same
 * against a server anywhere and on this host.
 */
import { rolloutStatusSchema, type RolloutStatusView } from '@edgefleet/shared';
import type { ApiClient } from './api-client.js';

const ENDED = new Set(['completed', 'aborted']);

/** Counts per device state over the whole rollout, in a fixed order, zeros left out. */
export function progressText(s: RolloutStatusView): string {
  const r = s.rollout;
  const counts = new Map<string, number>();
  for (const d of s.devices) counts.set(d.state, (counts.get(d.state) ?? 0) + 1);
  const order = [
    'pending',
    'notified',
    'in-progress',
    'succeeded',
    'failed',
    'timed-out',
    'rolling-back',
    'rolled-back',
    'cancelled',
  ];
  const states = order
    .filter((k) => (counts.get(k) ?? 0) > 0)
    .map((k) => `${k} ${counts.get(k)}`)
    .join(', ');
  const wave = s.waves[r.currentWave];
  const filled = wave
    ? `, wave ${r.currentWave + 1} of ${r.waveCount}: ${wave.counts.succeeded ?? 0}/${wave.size} succeeded`
    : '';
  return `${r.state}${r.reason ? ` (${r.reason})` : ''}${filled}; ${s.devices.length} devices: ${states || 'none'}`;
}

export interface WatchOptions {
  readonly intervalMs: number;
  readonly write: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** Polls until the rollout is completed or aborted; returns its last status. */
export async function watchRollout(api: ApiClient, id: string, o: WatchOptions): Promise<RolloutStatusView> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const started = now();
  let last = '';
  for (;;) {
    const s = await api.get(`/v1/rollouts/${encodeURIComponent(id)}`, rolloutStatusSchema);
    const line = progressText(s);
    if (line !== last) {
      o.write(`[${((now() - started) / 1000).toFixed(1)} s] rollout ${id}: ${line}`);
      last = line;
    }
    if (ENDED.has(s.rollout.state)) return s;
    await sleep(o.intervalMs);
  }
}
