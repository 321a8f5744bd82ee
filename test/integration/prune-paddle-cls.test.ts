/**
 * PaddleOCR cls (depthwise convolutions, hard-swish, squeeze-excite, residual adds): a quarter
 * of the channels of its prunable groups removed (spread by the sensitivity scan) and refit by
 * reconstruction, with output cosine ≥ 0.99 to the original on held-out synthetic text, every
 * cut group a Conv reads keeping a multiple of 4 channels. Speed is `npm run bench:prune`'s business.
 */
import t from 'tap';
import { prunePaddle } from '../helpers/paddle-prune.js';

t.setTimeout(900_000);

t.test('PaddleOCR cls: 25% of the prunable channels removed with reconstruction, output cosine ≥ 0.99', async (t) => {
  // 128 calibration pages (the last 32 held out for the scan) keep the cosine where 256 did (0.9921 vs 0.9924).
  const r = await prunePaddle('cls', { calib: 128, heldOut: 128, width: 192, options: {} });
  const p = r.report.pruning;
  t.ok(r.removedShare >= 0.25, `${(r.removedShare * 100).toFixed(1)}% of the prunable channels removed`);
  t.ok(r.cosine >= 0.99, `output cosine ${r.cosine.toFixed(4)} on 128 held-out pages`);
  t.ok((p?.totals.macsAfter ?? Infinity) < (p?.totals.macsBefore ?? 0), 'fewer MACs');
  // p2o.Conv.52 feeds the classifier (pooling, then MatMul): no Conv reads it, so any count is fine there.
  t.ok(
    p?.groups.filter((g) => g.name !== 'p2o.Conv.52').every((g) => g.kept === g.channels || g.kept % 4 === 0),
    'every cut group a Conv reads keeps a multiple of 4 channels (the default channelMultiple: the blocked layout)',
  );
  const se = p?.groups.find((g) => g.name === 'p2o.Conv.1');
  t.ok(se?.prunable, 'the group coupling a conv with the squeeze-excite scale that multiplies it is prunable');
  t.ok(
    p?.groups.some((g) => g.name === 'p2o.Conv.16' && g.prunable),
    'the residual chain of four blocks (five producers joined by Adds) is one prunable group',
  );
  t.match(
    p?.groups.find((g) => g.name === 'p2o.MatMul.0')?.reason,
    /Softmax p2o\.Softmax\.0: normalises over the channels/,
    'the classifier feeding the softmax is left whole, with the reason',
  );
});
