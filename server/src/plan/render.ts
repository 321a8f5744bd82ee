/**
 * Plans for people: a fixed-width table (CLI, bench) and an SVG chart of accuracy against
 * predicted latency with the budget lines, each point labelled by its recipe and the chosen
 * one ringed. The SVG is a hand-written string: no dependency, same plan → same bytes.
 */
import { chosenCandidate, describeObjective, variantIdOf, type Plan } from '@edgefleet/shared';

const fmt = (x: number | null | undefined, d = 2): string => (x === null || x === undefined ? '-' : x.toFixed(d));

/** The candidates as a table, the chosen one marked `*`, then the outcome and reason. */
export function formatPlanTable(plan: Plan): string {
  const head = [
    '',
    'RECIPE',
    'PREC',
    'BYTES',
    'ACC%',
    'AGREE%',
    'HOST p95 ms',
    'PRED p95 ms',
    'PRED mJ',
    'PRED W',
    'FRONT',
    'VERDICT',
  ];
  const rows = plan.candidates.map((c) => [
    c.recipe === plan.chosen ? '*' : '',
    c.recipe,
    c.precision,
    c.bytes === null ? '-' : String(c.bytes),
    fmt(c.accuracyPct),
    fmt(c.agreementPct),
    fmt(c.predicted?.hostP95Ms, 3),
    fmt(c.predicted?.p95LatencyMs, 3),
    fmt(c.predicted?.energyPerInferenceMj, 3),
    fmt(c.predicted?.avgPowerW, 3),
    c.onFront ? 'yes' : '',
    c.excluded ?? (c.feasible ? 'fits' : c.violations.map((v) => `${v.budget} +${v.excess}${v.unit}`).join(', ')),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const title =
    `plan: model ${plan.model.name} (${plan.model.sha256.slice(0, 12)}) on class ` +
    `${plan.deviceClass.name} v${plan.deviceClass.version}, speed model ${plan.speedModel.version} ` +
    `(${plan.speedModel.status})`;
  const chosen = chosenCandidate(plan);
  const objective = plan.objective
    ? `objective: ${plan.objective.kind} (${plan.objective.source}): ${describeObjective(plan.objective)}`
    : 'objective: not recorded (a plan stored before objectives: most accurate, then size)';
  return [
    title,
    objective,
    line(head),
    ...rows.map(line),
    `${plan.outcome === 'feasible' ? 'chosen' : 'NO FEASIBLE VARIANT; closest'}: ${plan.chosen ?? 'none'}`,
    ...(chosen ? [`variant: ${variantIdOf(chosen.recipe, chosen.artifactSha)}  sha256 ${chosen.artifactSha}`] : []),
    `reason: ${plan.reason}`,
    'note: PRED figures are predicted (host p95 measured here x the class speed factor; power modelled), not ' +
      'measured on the device',
  ].join('\n');
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n = (x: number): string => (Math.round(x * 10) / 10).toString();

/** Accuracy (y) vs predicted p95 latency (x, log scale when it spans more than 20x), budget lines dashed. */
export function renderPlanSvg(plan: Plan): string {
  const W = 720,
    H = 440,
    L = 70,
    R = 30,
    T = 50,
    B = 60;
  const pts = plan.candidates
    .filter((c) => c.predicted && c.accuracyPct !== null)
    .map((c) => ({ c, x: c.predicted?.p95LatencyMs ?? 0, y: c.accuracyPct ?? 0 }));
  const minAcc =
    plan.budgets.minAccuracyPct ??
    (plan.budgets.maxAccuracyDropPts !== undefined && plan.baseline.accuracyPct !== null
      ? plan.baseline.accuracyPct - plan.budgets.maxAccuracyDropPts
      : undefined);
  const xs = [
    ...pts.map((p) => p.x),
    ...(plan.budgets.maxP95LatencyMs === undefined ? [] : [plan.budgets.maxP95LatencyMs]),
  ].filter((x) => x > 0);
  const ys = [...pts.map((p) => p.y), ...(minAcc === undefined ? [] : [minAcc])];
  const x0 = Math.min(...xs, 1),
    x1 = Math.max(...xs, 1);
  const log = x1 / Math.max(x0, 1e-9) > 20;
  const fx = (x: number): number => {
    const [a, b, v] = log
      ? [Math.log10(x0 * 0.8), Math.log10(x1 * 1.25), Math.log10(Math.max(x, 1e-9))]
      : [0, x1 * 1.1, x];
    return L + ((v - a) / (b - a || 1)) * (W - L - R);
  };
  const yLo = Math.floor(Math.min(...ys, 100) - 1),
    yHi = Math.min(100, Math.ceil(Math.max(...ys, 0) + 0.5));
  const fy = (y: number): number => T + (1 - (y - yLo) / (yHi - yLo || 1)) * (H - T - B);
  const title = `${plan.model.name} on ${plan.deviceClass.name}: accuracy vs predicted p95 latency`;
  const subtitle =
    `latency predicted = host measurement x modelled ${plan.deviceClass.name} factor ` +
    `(speed model ${plan.speedModel.version}); ${plan.outcome}`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${L}" y="40" fill="#555">${esc(subtitle)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">predicted p95 latency, ` +
      `ms${log ? ' (log scale)' : ''}</text>`,
    `<text x="18" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 18 ` +
      `${(T + H - B) / 2})">accuracy, %</text>`,
  ];
  for (const y of [yLo, (yLo + yHi) / 2, yHi])
    out.push(`<text x="${L - 6}" y="${n(fy(y) + 4)}" text-anchor="end">${n(y)}</text>`);
  for (const x of log ? [x0, Math.sqrt(x0 * x1), x1] : [0, x1 / 2, x1])
    out.push(
      `<text x="${n(fx(Math.max(x, log ? x0 : 0)))}" y="${H - B + 16}" text-anchor="middle">${x.toPrecision(3)}</text>`,
    );
  if (plan.budgets.maxP95LatencyMs !== undefined) {
    const x = fx(plan.budgets.maxP95LatencyMs);
    out.push(
      `<line x1="${n(x)}" y1="${T}" x2="${n(x)}" y2="${H - B}" stroke="#c00" stroke-dasharray="6 4"/>`,
      `<text x="${n(x + 4)}" y="${T + 12}" fill="#c00">max p95 ${plan.budgets.maxP95LatencyMs} ms</text>`,
    );
  }
  if (minAcc !== undefined) {
    const y = fy(minAcc);
    out.push(
      `<line x1="${L}" y1="${n(y)}" x2="${W - R}" y2="${n(y)}" stroke="#c00" stroke-dasharray="6 4"/>`,
      `<text x="${W - R - 4}" y="${n(y - 4)}" text-anchor="end" fill="#c00">min accuracy ${n(minAcc)}%</text>`,
    );
  }
  for (const { c, x, y } of pts) {
    const color = c.recipe === plan.chosen ? '#0a0' : !c.eligible ? '#999' : c.feasible ? '#06c' : '#e80';
    const tip = `${c.recipe}: ${c.accuracyPct}% at ${x} ms, ${c.bytes} bytes${c.excluded ? ` (${c.excluded})` : ''}`;
    out.push(`<circle cx="${n(fx(x))}" cy="${n(fy(y))}" r="5" fill="${color}"><title>${esc(tip)}</title></circle>`);
    if (c.recipe === plan.chosen)
      out.push(`<circle cx="${n(fx(x))}" cy="${n(fy(y))}" r="10" fill="none" stroke="#0a0" stroke-width="2"/>`);
    out.push(
      `<text x="${n(fx(x) + 8)}" ` +
        `y="${n(fy(y) - 8)}">${esc(c.recipe + (c.recipe === plan.chosen ? ' (chosen)' : ''))}</text>`,
    );
  }
  out.push(
    `<text x="${L}" y="${H - 2}" fill="#555" font-size="10">green: chosen; blue: fits every budget; orange: breaks a ` +
      `budget; grey: class cannot run it</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
