/**
 * PaddleOCR rec (PP-OCRv4: depthwise convolutions, hard-swish with learnable affine scalars,
 * squeeze-excite, an SVTR neck with LayerNorm and attention, a CTC head): a quarter of the
 * channels of its prunable groups removed and refit by reconstruction, output cosine ≥ 0.99 on
 * held-out synthetic text. The heaviest pruning test: 72 calibration pages (the last 8 held
 * out for the sensitivity scan), candidates run on 8 pages, the final checks on 16.
 */
import t from 'tap';
import { prunePaddle } from '../helpers/paddle-prune.js';

t.setTimeout(900_000);

t.test('PaddleOCR rec: 25% of the prunable channels removed with reconstruction, output cosine ≥ 0.99', async (t) => {
  const r = await prunePaddle('rec', {
    calib: 72,
    heldOut: 32,
    width: 320,
    options: { scanSamples: 8, checkSamples: 16 },
  });
  const p = r.report.pruning;
  t.ok(r.removedShare >= 0.25, `${(r.removedShare * 100).toFixed(1)}% of the prunable channels removed`);
  t.ok(r.cosine >= 0.99, `output cosine ${r.cosine.toFixed(4)} on 32 held-out pages`);
  t.match(
    p?.groups.find((g) => g.name === 'p2o.Conv.34')?.reason,
    /ReduceMean p2o\.ReduceMean\.0: reduces over the channels/,
    'the SVTR trunk (LayerNorm over its channels) is left whole, with the reason',
  );
  t.ok(
    ['p2o.Conv.32', 'p2o.Conv.35'].every((name) => p?.groups.find((g) => g.name === name)?.prunable),
    'both groups concatenated in front of the neck conv are prunable (Concat along the channels)',
  );
});
