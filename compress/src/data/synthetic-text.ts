/**
 * Seeded synthetic "document" images for models that read text (PaddleOCR det/cls): a light,
 * slightly noisy page with dark horizontal text lines made of glyph-sized blocks and strokes,
 * normalized the way PaddleOCR preprocesses photos ((x − mean) / std per RGB channel, ImageNet
 * statistics). Uniform noise is a poor probe for a text detector: on it the detector's output is
 * ~0 everywhere (max ≈ 2e-4), so output cosine measures rounding of probabilities like 1e-8
 * rather than the model's behaviour. These images make the detector fire where "text" is.
 */
import { createRng, type Rng } from './prng.js';
import type { Dataset } from './tensor.js';

const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

/** Options of {@link syntheticTextImages}. */
export interface SyntheticTextOptions {
  /** Seed; different seeds give different pages. Default 1. */
  readonly seed?: number;
  /**
   * Pixel normalization: `imagenet` ((x − mean)/std per channel, PaddleOCR det; default) or
   * `symmetric` ((x − 0.5)/0.5, PaddleOCR's text-line models, cls and rec).
   */
  readonly normalize?: 'imagenet' | 'symmetric';
}

function drawLine(page: Float32Array, h: number, w: number, rng: Rng): void {
  const glyphH = 4 + rng.int(Math.max(1, Math.floor(h / 8)));
  const y0 = rng.int(Math.max(1, h - glyphH));
  let x = rng.int(Math.max(1, Math.floor(w / 4)));
  const end = Math.min(w, x + Math.floor(w * (0.3 + 0.6 * rng.next())));
  const ink = 0.05 + 0.25 * rng.next();
  while (x < end) {
    const gw = Math.max(2, Math.floor(glyphH * (0.4 + 0.5 * rng.next())));
    // A glyph: a few vertical and horizontal strokes inside its box.
    for (let s = 0; s < 3; s++) {
      const vertical = rng.next() < 0.5;
      const sx = x + rng.int(gw);
      const sy = y0 + rng.int(glyphH);
      for (let yy = vertical ? y0 : sy; yy < (vertical ? y0 + glyphH : sy + 1); yy++) {
        for (let xx = vertical ? sx : x; xx < (vertical ? sx + 1 : x + gw); xx++) {
          if (yy < h && xx < end) page[yy * w + xx] = ink;
        }
      }
    }
    x += gw + 1 + rng.int(3);
  }
}

/** N seeded pages of shape [N, 3, H, W] (float32, normalized), as a dataset for input `inputName`. */
export function syntheticTextImages(
  dims: readonly [number, number, number, number],
  inputName: string,
  opts: SyntheticTextOptions = {},
): Dataset {
  const [n, c, h, w] = dims;
  const rng = createRng(opts.seed ?? 1);
  const data = new Float32Array(n * c * h * w);
  const page = new Float32Array(h * w);
  for (let i = 0; i < n; i++) {
    const paper = 0.8 + 0.2 * rng.next();
    for (let p = 0; p < page.length; p++) page[p] = paper - 0.05 * rng.next();
    const lines = 1 + rng.int(Math.max(1, Math.floor(h / 24)));
    for (let l = 0; l < lines; l++) drawLine(page, h, w, rng);
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * h * w;
      const symmetric = opts.normalize === 'symmetric';
      const mean = symmetric ? 0.5 : (MEAN[ch % 3] ?? 0.5);
      const std = symmetric ? 0.5 : (STD[ch % 3] ?? 0.25);
      for (let p = 0; p < page.length; p++) data[base + p] = ((page[p] ?? 0) - mean) / std;
    }
  }
  return {
    source: `synthetic-text:${dims.join('x')}:seed${opts.seed ?? 1}`,
    count: n,
    inputs: { [inputName]: { dtype: 'float32', dims: [...dims], data } },
  };
}
