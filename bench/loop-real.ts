/**
 * npm run bench:loop-real — the closed loop on real measurements (issue 23): agent processes on
 * this host run mnist-cnn-large at a steady rate and report measured windows; after a baseline
 * minute the class budget is 1.5 × the baseline's window p95; then each agent's cgroup quota
 * drops to 0.25 of a core. Prints one table: measured p95 before, during, after (and after the
 * quota is lifted), the time from the quota drop to the first breach event, the loop's
 * decision, the rollout done and `recovered`; the predictor's error before and after the loop's
 * correction. JSON in bench/results/loop-real.json. Needs Linux, root and the cgroup cpu
 * controller (it says why not otherwise). Run it under the shared lock:
 *   flock /tmp/edgefleet-heavy.lock npm run bench:loop-real
 * Usage: npm run bench:loop-real [-- --devices 2 --baseline-s 60 --rate 60 --batch 32 --cores 0.25]
 *   --only-search: no faster variant is stored, so the loop searches a new model (at most --evals
 *   candidates, --search-s seconds) and rolls it out; JSON in bench/results/loop-real-search.json.
 *   --correction proportional: the loop's old prediction (× the breach ratio) instead of the
 *   devices' utilisation-aware correction.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEdgefleetError } from '@edgefleet/shared';
import { removeAllCpuQuotaGroups } from '@edgefleet/simulators';
import { runRealLoop } from '@edgefleet/cli/scenario/real-loop';
import { correctionSummary, type PredictorError } from '@edgefleet/cli/scenario/real-loop-figures';

if (process.argv.includes('--help')) {
  console.log(
    'npm run bench:loop-real [-- --devices N --baseline-s S --rate R --batch B --cores C --period-ms P ' +
      '--recipe JSON] [--only-search [--evals N --search-s S]] [--correction proportional|utilisation]\n' +
      'The closed loop on real agent processes under a real cgroup CPU quota (Linux, root). Run under flock ' +
      '/tmp/edgefleet-heavy.lock.',
  );
  process.exit(0);
}
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const argText = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : def;
};
// A structured cut to half the channels of every prunable group, refit by least squares (~¼ of the MACs).
const ONLY_SEARCH = process.argv.includes('--only-search');
const correction = argText('correction', 'utilisation');
if (correction !== 'utilisation' && correction !== 'proportional') {
  console.error(`--correction must be proportional or utilisation, not ${correction}`);
  process.exit(2);
}
const FAST = JSON.stringify([{ pass: 'prune-structured', ratio: 0.5, importance: 'l1' }, { pass: 'reconstruct' }]);
const MODEL = fileURLToPath(new URL('../models/zoo/mnist-cnn-large.onnx', import.meta.url));

// Ctrl-C: the agent processes and the cgroups go too (their exit hooks run on process.exit).
process.once('SIGINT', () => {
  removeAllCpuQuotaGroups();
  process.exit(130);
});

const pct = (v: number | null): string => (v === null ? '-' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(0)}%`);
const ms = (v: number | null): string => (v === null ? '-' : v.toFixed(2));

/** The predictor's table: both bases, each corrected by the healthy ratio; the loop's breach ratio. */
function printPredictor(
  rows: readonly PredictorError[],
  summary: ReturnType<typeof correctionSummary>,
  batch: number,
): void {
  console.log(`\npredictor, p95 per call (error = (predicted − measured) / measured; * = out of sample)`);
  console.log(
    `recipe\tphase\tmeasured ms\tbatch-1 basis ms (err)\t× healthy\tbatch-${batch} prediction ms (err)\t` +
      "× healthy ratio (err)\t× breach ratio (err)\tdevices' correction ms (err)",
  );
  for (const p of rows)
    console.log(
      [
        `${p.outOfSample ? '*' : ''}${p.recipe.slice(0, 24)}`,
        p.phase,
        ms(p.measuredP95Ms),
        `${ms(p.batch1PredictedMs)} (${pct(p.batch1Error)})`,
        pct(p.batch1HealthyError),
        `${ms(p.predictedP95Ms)} (${pct(p.error)})`,
        p.healthyRatio === null ? '-' : `${p.healthyRatio.toFixed(3)} (${pct(p.healthyError)})`,
        p.breachRatio === null ? '-' : `${p.breachRatio.toFixed(3)} (${pct(p.breachError)})`,
        `${ms(p.devicesPredictedMs)} (${pct(p.devicesError)})`,
      ].join('\t'),
    );
  console.log(
    `out of sample (${summary.rows} rows), mean |error|: batch-1 basis ${pct(summary.meanAbsErrorBatch1)} → ` +
      `batch-${batch} prediction ${pct(summary.meanAbsErrorBefore)} → ` +
      `× healthy ratio ${pct(summary.meanAbsErrorAfter)} ` +
      `(× breach ratio ${pct(summary.meanAbsErrorBreach)}; batch-1 basis × its healthy ratio ` +
      `${pct(summary.meanAbsErrorBatch1After)}); ` +
      `the loop's prediction with the devices' correction ${pct(summary.meanAbsErrorDevices)}`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'ef-bench-loop-real-'));
const load = { start: loadavg()[0] ?? 0, end: 0 };
try {
  const r = await runRealLoop({
    dataDir: dir,
    modelPath: MODEL,
    fastRecipe: argText('recipe', FAST),
    evalSpec: 'mnist:test:1000',
    devices: arg('devices', 2),
    workloadRate: arg('rate', 60),
    workloadBatch: arg('batch', 32),
    windowS: arg('window-s', 2),
    baselineMs: arg('baseline-s', 60) * 1000,
    quotaCores: arg('cores', 0.25),
    periodMs: arg('period-ms', 100),
    correction,
    ...(ONLY_SEARCH
      ? {
          onlySearch: true,
          search: { maxEvaluations: arg('evals', 4), timeBudgetMs: arg('search-s', 360) * 1000 },
          // Detection, the re-plan, the search (its candidates, the finalist's training and timing), the rollout.
          timeoutMs: 240_000 + arg('search-s', 360) * 1000 * 3,
        }
      : {}),
    print: (line) => process.stderr.write(`${line}\n`),
  });
  load.end = loadavg()[0] ?? 0;
  const m = r.marks;
  const since = (t?: number): number | null => (t === undefined || m.onset === undefined ? null : t - m.onset);
  const row = {
    p95BeforeMs: r.before.medianP95Ms,
    budgetMs: r.budgetMs,
    p95DuringMs: r.during.medianP95Ms,
    p95AfterMs: r.after.medianP95Ms,
    p95AfterLiftMs: r.afterLift.medianP95Ms,
    toFirstBreachMs: since(m.firstBreach),
    toDecisionMs: since(m.decision),
    toSearchStartMs: since(m.searchStarted),
    toSearchEndMs: since(m.searchEnded),
    toRolloutDoneMs: since(m.rolloutDone),
    toRecoveredMs: since(m.recovered),
    deployed: r.deployed,
    deploysAfterLift: r.deploysAfterLift,
  };
  console.log(Object.keys(row).join('\t'));
  console.log(
    Object.values(row)
      .map((v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v ?? '-')))
      .join('\t'),
  );
  const summary = correctionSummary(r.predictor);
  printPredictor(r.predictor, summary, arg('batch', 32));
  console.log(
    `\nkernel throttling: ` +
      `${r.throttling.map((t) => `${t.deviceId} ${t.throttled} periods, ${t.throttledMs.toFixed(0)} ms`).join('; ')}`,
  );
  console.log(`load average ${load.start.toFixed(1)} → ${load.end.toFixed(1)}`);
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL(ONLY_SEARCH ? 'results/loop-real-search.json' : 'results/loop-real.json', import.meta.url),
    `${JSON.stringify(
      {
        when: new Date().toISOString(),
        note:
          'wall clock; real agent processes, measured onnxruntime latency (no modelled figure); p95 = median of ' +
          '2 s window p95s per phase; times from the quota drop',
        load,
        scenario: { onlySearch: ONLY_SEARCH, correction },
        row,
        phases: { before: r.before, during: r.during, after: r.after, afterLift: r.afterLift },
        decisions: r.decisions,
        predictor: { rows: r.predictor, correction: summary },
        throttling: r.throttling,
        plan: { slow: r.slow, fast: r.fast },
      },
      null,
      2,
    )}\n`,
  );
} catch (err: unknown) {
  if (isEdgefleetError(err, 'EF_ERR_FAULT_CGROUP')) {
    console.error(`bench:loop-real cannot run here: ${err.message}`);
    process.exitCode = 1;
  } else throw err;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
