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
