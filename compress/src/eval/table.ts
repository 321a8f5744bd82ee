import type { EvalResult } from './schema.js';

/** Human units for bytes: `1.23 MB`, `456 KB`, `789 B` (decimal prefixes). */
export function formatBytes(n: number | null): string {
  if (n === null) return 'unknown';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} KB`;
  return `${n} B`;
}

/** Left-aligned columns separated by two spaces. */
export function formatColumns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** The two-column table `edgefleet eval` prints. */
export function formatEvalResult(r: EvalResult): string {
  const rows: string[][] = [
    ['model', `${r.model.path} (sha256 ${r.model.sha256.slice(0, 12)}…)`],
    ['data', `${r.data.source}, ${r.data.count} samples${r.data.labelled ? ', labelled' : ''}`],
  ];
  if (r.accuracy)
    rows.push(['accuracy top-1', `${(r.accuracy.top1 * 100).toFixed(2)}% (${r.accuracy.correct}/${r.accuracy.count})`]);
  if (r.fidelity) {
    const f = r.fidelity;
    rows.push(
      ['fidelity reference', f.reference],
      ['  top-1 agreement', `${(f.top1Agreement * 100).toFixed(2)}% of ${f.count}`],
      ['  cosine mean/min', `${f.meanCosine.toFixed(6)} / ${f.minCosine.toFixed(6)}`],
      ['  max abs error', f.maxAbsError.toExponential(3)],
    );
  }
  rows.push(['size', `${formatBytes(r.size.bytes)} (${r.size.bytes} B), gzip ${formatBytes(r.size.gzipBytes)}`]);
  if (r.latency) {
    const l = r.latency;
    rows.push([
      'latency p50/p95',
      `${l.p50Ms.toFixed(3)} / ${l.p95Ms.toFixed(3)} ms (batch ${l.batch}, ${l.threads} ` +
        `thread${l.threads === 1 ? '' : 's'}, ${l.warmupRuns} warm-up + ${l.rounds ?? 1}×${l.timedRuns} runs)`,
    ]);
  }
  const m = r.memory;
  const unknown =
    m.unknownOps.length > 0
      ? ` (shapes unknown after: ${m.unknownOps.join(', ')}; known part ${formatBytes(m.activationPeakKnownBytes)})`
      : '';
  rows.push(
    ['memory weights', formatBytes(m.weightBytes)],
    ['memory activations', `${formatBytes(m.activationPeakBytes)} peak at batch ${m.batch}${unknown}`],
    ['memory estimate', formatBytes(m.estimatedPeakBytes)],
    ['session RSS growth', `${formatBytes(m.rssGrowthBytes)} (measured)`],
  );
  return formatColumns(rows);
}
