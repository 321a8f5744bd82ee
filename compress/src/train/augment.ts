import { EdgefleetError } from '@edgefleet/shared';
import type { Rng } from '../data/prng.js';

/**
 * Copy one 28x28 image into `out` translated by (dx, dy) pixels, filling with 0 (the
 * background of MNIST). Small random translations are the cheapest augmentation that
 * lets 7,000 training digits generalise like many more.
 */
export function shiftImage(src: Float32Array, out: Float32Array, dx: number, dy: number): void {
  out.fill(0);
  for (let y = 0; y < 28; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= 28) continue;
    for (let x = 0; x < 28; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < 28) out[y * 28 + x] = src[sy * 28 + sx] as number;
    }
  }
}

/** Draw a translation in [-max, max]² for one sample. */
export function drawShift(rng: Rng, max: number): [number, number] {
  return [rng.int(2 * max + 1) - max, rng.int(2 * max + 1) - max];
}

/** Random geometric augmentation of image samples; every field defaults to 0 (off). */
export interface AugmentOptions {
  /** Largest translation in pixels, each axis. */
  readonly shift?: number;
  /** Largest rotation in degrees, either way. */
  readonly rotate?: number;
  /** Largest relative change of scale, e.g. 0.1 for ×0.9…×1.1. */
  readonly scale?: number;
}

/** Channels, height and width of one image sample. */
export interface ImageGeometry {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * Write a randomly transformed copy of one CHW sample into `out`. Integer shifts alone copy
 * pixels; rotation and scale resample bilinearly around the centre, filling with 0.
 */
export function augmentSample(
  src: Float32Array,
  out: Float32Array,
  geo: ImageGeometry,
  rng: Rng,
  opts: AugmentOptions,
): void {
  const shift = opts.shift ?? 0;
  const [dx, dy] = shift > 0 ? drawShift(rng, shift) : [0, 0];
  const angle = (opts.rotate ?? 0) > 0 ? rng.uniform(-1, 1) * (((opts.rotate ?? 0) * Math.PI) / 180) : 0;
  const zoom = (opts.scale ?? 0) > 0 ? 1 + rng.uniform(-1, 1) * (opts.scale ?? 0) : 1;
  const { channels, height: h, width: w } = geo;
  const plane = h * w;
  if (angle === 0 && zoom === 1) {
    out.fill(0);
    for (let c = 0; c < channels; c++)
      for (let y = 0; y < h; y++) {
        const sy = y - dy;
        if (sy < 0 || sy >= h) continue;
        for (let x = 0; x < w; x++) {
          const sx = x - dx;
          if (sx >= 0 && sx < w) out[c * plane + y * w + x] = src[c * plane + sy * w + sx] as number;
        }
      }
    return;
  }
  // Inverse map: output pixel p reads source R(−θ)·(p − centre − shift)/zoom + centre.
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const cos = Math.cos(angle) / zoom;
  const sin = Math.sin(angle) / zoom;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const ox = x - cx - dx;
      const oy = y - cy - dy;
      const sx = cos * ox + sin * oy + cx;
      const sy = -sin * ox + cos * oy + cy;
      for (let c = 0; c < channels; c++) out[c * plane + y * w + x] = bilinear(src, c * plane, w, h, sx, sy);
    }
}

function bilinear(src: Float32Array, base: number, w: number, h: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (xx: number, yy: number): number =>
    xx < 0 || yy < 0 || xx >= w || yy >= h ? 0 : (src[base + yy * w + xx] as number);
  return (
    (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
    fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1))
  );
}

/**
 * The image geometry of a model input's per-sample dims: [C,H,W], or a flat square [H·W]
 * (one channel, e.g. MNIST's 784 pixels); undefined when the input is not an image.
 */
export function imageGeometryOf(sampleDims: readonly number[]): ImageGeometry | undefined {
  if (sampleDims.length === 3) {
    const [channels, height, width] = sampleDims as [number, number, number];
    return { channels, height, width };
  }
  if (sampleDims.length === 1) {
    const side = Math.round(Math.sqrt(sampleDims[0] as number));
    if (side * side === sampleDims[0]) return { channels: 1, height: side, width: side };
  }
  return undefined;
}

/** Parse `shift:2,rotate:10,scale:0.1` (any subset) into augmentation options. */
export function parseAugment(spec: string): AugmentOptions {
  const out: { shift?: number; rotate?: number; scale?: number } = {};
  for (const part of spec.split(',')) {
    const [key, value] = part.split(':');
    const n = Number(value);
    const limits = { shift: 8, rotate: 45, scale: 0.5 } as const;
    if (key !== 'shift' && key !== 'rotate' && key !== 'scale')
      throw new EdgefleetError(
        'EF_ERR_TRAIN_OPTIONS',
        `augmentation "${part}" is not shift:N, rotate:DEG or scale:F`,
        {},
      );
    if (!Number.isFinite(n) || n < 0 || n > limits[key] || (key === 'shift' && !Number.isInteger(n)))
      throw new EdgefleetError(
        'EF_ERR_TRAIN_OPTIONS',
        `augmentation ${key} must be ${key === 'shift' ? 'a whole number of pixels' : 'a number'} from 0 to ` +
          `${limits[key]}, got "${value ?? ''}"`,
        {},
      );
    out[key] = n;
  }
  return out;
}
