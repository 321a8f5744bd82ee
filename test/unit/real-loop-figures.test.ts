/**
 * The real loop's figures from measured windows: phase p95s (whole windows of the phase, of one
 * variant when asked), the budget from the baseline's upper tail, the predictor's error with and
 * without the loop's one-ratio correction.
 */
import t from 'tap';
import {
  budgetFromBaseline,
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

t.test('predictor error: uncorrected, with the healthy ratio, with the ratio learned under the quota', async (t) => {
  const e = predictorError('fast', 'under the quota', 0.5, 2, { healthy: 4, breach: 10 });
  t.equal(e.uncorrectedError, -0.75, 'predicted 0.5 for a measured 2: 75% under');
  t.equal(e.healthyError, 0);
  t.equal(e.breachError, 1.5, 'a ratio learned under a quota overstates a variant that escapes it');
  const none = predictorError('x', 'baseline', 1, 1, { healthy: null, breach: null });
  t.equal(none.healthyError, null);
  t.equal(none.breachError, null);
});
