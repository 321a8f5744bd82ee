import type { CandidateRecord } from './candidate-store.js';

/**
 * The search as a picture: every built candidate as a point (top-1 against predicted device
 * latency), the feasible Pareto front joined by a line, reference points (the teacher, single
 * techniques) labelled, the finalist ringed. Plain SVG text, no dependencies. Pure.
 */
export interface FrontPoint {
  readonly label: string;
  readonly latencyMs: number;
  readonly accuracyPct: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Render candidates (records with `accuracyPct` and `deviceP95Ms` metrics) and references. */
export function frontSvg(opts: {
  readonly title: string;
  readonly candidates: readonly CandidateRecord[];
  readonly front: readonly CandidateRecord[];
  readonly references?: readonly FrontPoint[];
  readonly finalist?: FrontPoint;
}): string {
  const point = (r: CandidateRecord): FrontPoint | undefined => {
    const a = r.metrics.accuracyPct;
    const l = r.metrics.deviceP95Ms;
    return typeof a === 'number' && typeof l === 'number' ? { label: r.key, latencyMs: l, accuracyPct: a } : undefined;
  };
  const all = opts.candidates.map(point).filter((p): p is FrontPoint => p !== undefined);
  const front = opts.front
    .map(point)
    .filter((p): p is FrontPoint => p !== undefined)
    .sort((a, b) => a.latencyMs - b.latencyMs);
  const refs = opts.references ?? [];
  const every = [...all, ...refs, ...(opts.finalist ? [opts.finalist] : [])];
  const W = 640;
  const H = 400;
  const pad = { l: 60, r: 20, t: 40, b: 50 };
  const xs = every.map((p) => p.latencyMs);
  const ys = every.map((p) => p.accuracyPct);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1e-9) * 1.05];
  const [y0, y1] = [Math.min(...ys, 100) - 0.5, Math.min(100, Math.max(...ys, 0) + 0.5)];
  const X = (v: number) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const Y = (v: number) => H - pad.b - ((v - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">predicted device p95 latency (ms, modelled)</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">top-1 (%)</text>`,
    `<text x="${pad.l}" y="${H - pad.b + 14}" text-anchor="middle">${x0.toPrecision(3)}</text>`,
    `<text x="${W - pad.r}" y="${H - pad.b + 14}" text-anchor="middle">${x1.toPrecision(3)}</text>`,
    `<text x="${pad.l - 4}" y="${H - pad.b}" text-anchor="end">${y0.toFixed(1)}</text>`,
    `<text x="${pad.l - 4}" y="${pad.t + 4}" text-anchor="end">${y1.toFixed(1)}</text>`,
  ];
  for (const p of all)
    out.push(`<circle cx="${X(p.latencyMs).toFixed(1)}" cy="${Y(p.accuracyPct).toFixed(1)}" r="3" fill="#9ab"/>`);
  if (front.length > 0)
    out.push(
      `<polyline fill="none" stroke="#c40" stroke-width="1.5" ` +
        `points="${front.map((p) => `${X(p.latencyMs).toFixed(1)},${Y(p.accuracyPct).toFixed(1)}`).join(' ')}"/>`,
    );
  for (const p of refs)
    out.push(
      `<rect x="${(X(p.latencyMs) - 3).toFixed(1)}" y="${(Y(p.accuracyPct) - 3).toFixed(1)}" width="6" height="6" ` +
        `fill="#246"/>`,
      `<text x="${(X(p.latencyMs) + 6).toFixed(1)}" y="${(Y(p.accuracyPct) + 4).toFixed(1)}">${esc(p.label)}</text>`,
    );
  if (opts.finalist)
    out.push(
      `<circle cx="${X(opts.finalist.latencyMs).toFixed(1)}" cy="${Y(opts.finalist.accuracyPct).toFixed(1)}" r="7" ` +
        `fill="none" stroke="#c40" stroke-width="2"/>`,
      `<text x="${(X(opts.finalist.latencyMs) + 9).toFixed(1)}" ` +
        `y="${(Y(opts.finalist.accuracyPct) - 6).toFixed(1)}">${esc(opts.finalist.label)}</text>`,
    );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
