/** Numbers, times and sizes as the console prints them: few digits, units always shown. */

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toPrecision(3)} ms`;
  return `${ms.toPrecision(2)} ms`;
}

export function formatPct(pct: number | null | undefined, digits = 2): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return '–';
  return `${pct.toFixed(digits)} %`;
}

export function formatWatts(w: number | null | undefined): string {
  if (w === null || w === undefined || !Number.isFinite(w)) return '–';
  return w >= 10 ? `${w.toFixed(1)} W` : `${w.toPrecision(2)} W`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** `14:03:07` today, `Dec 5 14:03` otherwise (local time). */
export function formatTime(at: number | null | undefined): string {
  if (at === null || at === undefined) return '–';
  const d = new Date(at);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour12: false })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
}

/** Full date and time, for `title` and `<time dateTime>`. */
export function isoTime(at: number): string {
  return new Date(at).toISOString();
}

/** `12 s ago`, `3 min ago`, `2 h ago`, relative to `now`. */
export function formatAgo(at: number | null | undefined, now: number = Date.now()): string {
  if (at === null || at === undefined) return 'never';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 12) : '–';
}

/** Why a device went offline, as people read it (`stateReason` of the registry); online needs no reason. */
export function offlineReasonText(state: string, reason: string | null): string | null {
  if (state !== 'offline' || reason === null) return null;
  const text: Record<string, string> = {
    clean: 'disconnected cleanly',
    lost: 'connection lost (its last will)',
    stale: 'silent past the heartbeat timeout',
  };
  return text[reason] ?? reason;
}

/** Budget names as people read them. */
export const BUDGET_LABELS: Readonly<Record<string, string>> = {
  maxModelBytes: 'Model size',
  maxP95LatencyMs: 'Latency p95',
  maxAvgPowerW: 'Average power',
  maxEnergyPerInferenceMj: 'Energy per inference',
  minAccuracyPct: 'Accuracy (min)',
  maxAccuracyDropPts: 'Accuracy drop (max)',
  latencyP95Ms: 'Latency p95',
  powerW: 'Power',
  energyPerInferenceMj: 'Energy per inference',
  minAccuracy: 'Accuracy (min)',
  accuracy: 'Accuracy',
};

/** A budget limit with its unit. */
export function formatBudget(name: string, value: number): string {
  switch (name) {
    case 'maxModelBytes':
      return `≤ ${formatBytes(value)}`;
    case 'maxP95LatencyMs':
    case 'latencyP95Ms':
      return `≤ ${formatMs(value)}`;
    case 'maxAvgPowerW':
    case 'powerW':
      return `≤ ${formatWatts(value)}`;
    case 'maxEnergyPerInferenceMj':
    case 'energyPerInferenceMj':
      return `≤ ${value.toPrecision(3)} mJ`;
    case 'minAccuracyPct':
      return `≥ ${formatPct(value, 1)}`;
    case 'maxAccuracyDropPts':
      return `≤ ${value} pt${value === 1 ? '' : 's'} below the original`;
    case 'minAccuracy':
    case 'accuracy':
      return `≥ ${formatPct(value * 100, 1)}`;
    default:
      return String(value);
  }
}

/** A measured figure in a budget's unit (`minAccuracy` is a ratio, shown as percent). */
export function formatMeasured(budget: string, value: number | null): string {
  if (value === null) return '–';
  switch (budget) {
    case 'latencyP95Ms':
      return formatMs(value);
    case 'powerW':
      return formatWatts(value);
    case 'energyPerInferenceMj':
      return `${value.toPrecision(3)} mJ`;
    case 'minAccuracy':
      return formatPct(value * 100, 1);
    default:
      return String(value);
  }
}

/** Decimals that print every tick exactly (0.25 steps get two, 0.5 steps one), at most 6. */
export function tickDecimals(ticks: readonly number[]): number {
  const step = ticks.length > 1 ? Math.abs((ticks[1] ?? 0) - (ticks[0] ?? 0)) : 1;
  let decimals = 0;
  while (decimals < 6 && ticks.some((v) => Math.abs(Number(v.toFixed(decimals)) - v) > step * 1e-6)) decimals += 1;
  return decimals;
}
