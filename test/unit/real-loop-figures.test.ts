/**
 * The real loop's figures from measured windows: phase p95s (whole windows of the phase, of one
 * variant when asked), the budget from the baseline's upper tail, the predictor's error with and
 * without the loop's one-ratio correction
 * (learned on one variant or phase, judged on another).
 */
import t from 'tap';
import {
  budgetFromBaseline,
  correctionSummary,
  phaseLatency,
  predictorError,
  quantile,
  windowP95s,
  type WindowFigure,
} from '@edgefleet/cli/scenario/real-loop-figures';

const w = (start: number, p95: number | null, modelSha = 'a', inferences = 100): WindowFigure => ({
  deviceId: 'd',
  windowStart: start,
  windowEnd: start + 2000,
  modelSha,
  p95Ms: p95,
  inferences,
});

t.test('quantiles are nearest-rank; empty is null', async (t) => {
  t.equal(quantile([], 0.5), null);
  t.equal(quantile([3, 1, 2], 0.5), 2);
  t.equal(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9);
  t.equal(quantile([7], 0.9), 7);
});

t.test('a phase keeps whole windows inside it, with inferences, of the variant asked for', async (t) => {
  const windows = [w(0, 5), w(1000, 50), w(2000, 6), w(4000, 7, 'b'), w(6000, null), w(8000, 9, 'a', 0), w(10_000, 8)];
  t.same(windowP95s(windows, 0, 12_000), [5, 50, 6, 7, 8], 'no empty window, no window without a p95');
  t.same(windowP95s(windows, 1500, 12_000), [6, 7, 8], 'a window straddling the start is left out');
  t.same(windowP95s(windows, 0, 12_000, 'a'), [5, 50, 6, 8]);
  t.same(phaseLatency([5, 6, 7, 8, 50]), { windows: 5, medianP95Ms: 7, p10P95Ms: 5, p90P95Ms: 50 });
  t.same(phaseLatency([]), { windows: 0, medianP95Ms: null, p10P95Ms: null, p90P95Ms: null });
});

t.test('budget: 1.5 × the baseline windows’ 90th percentile', async (t) => {
  t.equal(budgetFromBaseline([6, 7, 8, 9, 10, 6, 7, 8, 9, 20]), 15);
  t.equal(budgetFromBaseline([4], 2), 8);
  t.equal(budgetFromBaseline([]), null);
});

t.test(
  'predictor error: both bases, each corrected by the ratio learned while healthy; the breach ratio',
  async (t) => {
    const e = predictorError({
      recipe: 'fast',
      phase: 'under the quota',
      outOfSample: true,
      measuredP95Ms: 2,
      batch1PredictedMs: 0.1,
      predictedP95Ms: 0.5,
      healthyRatio1: 10,
      healthyRatio: 5,
      breachRatio: 20,
      devicesPredictedMs: 2.5,
    });
    t.equal(e.batch1Error, -0.95, 'a batch-1 figure for a batch-32 call: 95% under');
    t.equal(e.batch1HealthyError, -0.5, 'batch-1 basis × its own healthy ratio');
    t.equal(e.error, -0.75, 'predicted 0.5 for a measured 2: 75% under');
    t.equal(e.healthyError, 0.25, 'a ratio learned on fp32 while healthy, judged on the faster variant');
    t.equal(e.breachError, 4, 'the ratio learned under the quota overstates a variant that fits under it');
    t.equal(e.devicesError, 0.25, "the loop's own prediction with the devices' correction");
    const base = predictorError({
      recipe: 'fp32',
      phase: 'baseline',
      outOfSample: false,
      measuredP95Ms: 1,
      batch1PredictedMs: null,
      predictedP95Ms: 1.2,
      healthyRatio1: null,
      healthyRatio: null,
      breachRatio: null,
      devicesPredictedMs: null,
    });
    t.equal(base.healthyError, null);
    t.equal(base.breachError, null);
    t.equal(base.batch1Error, null);
    const s = correctionSummary([e, base, { ...e, error: 0.25, healthyError: -0.05, breachError: null }]);
    t.same(s.rows, 2, 'only out-of-sample rows with a correction are judged');
    t.equal(s.meanAbsErrorBatch1, 0.95, 'the batch-1 basis, uncorrected');
    t.equal(s.meanAbsErrorBefore, 0.5);
    t.ok(Math.abs((s.meanAbsErrorAfter ?? 0) - 0.15) < 1e-12);
    t.equal(s.meanAbsErrorBreach, 4, 'rows without a breach ratio are left out of its mean');
    t.equal(s.meanAbsErrorBatch1After, 0.5);
    t.equal(s.meanAbsErrorDevices, 0.25);
    t.same(correctionSummary([base]), {
      rows: 0,
      meanAbsErrorBatch1: null,
      meanAbsErrorBefore: null,
      meanAbsErrorAfter: null,
      meanAbsErrorBreach: null,
      meanAbsErrorBatch1After: null,
      meanAbsErrorDevices: null,
    });
  },
);
