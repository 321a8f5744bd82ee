import { createRng } from '../../data/prng.js';
import type { NetLayer, NetSpec } from './net.js';

/**
 * Seeded random networks of the kind the search proposes on 28×28 images: 1–3 conv stages of
 * random widths, each downsampled by a 2×2 max-pool or a stride-2 convolution, 0–2 hidden dense
 * layers, a 10-way classifier. The microbenchmark suite fits on some (seed family `suite`), the
 * latency bench holds out others (its own seed), so the fit sees whole networks without seeing
 * the ones it is judged on.
 */
export function randomNet(seed: number, index: number): NetSpec {
  const rng = createRng(seed * 1000 + index);
  const widths = [4, 6, 8, 12, 16, 24, 32, 48, 64];
  const layers: NetLayer[] = [];
  const stages = 1 + rng.int(3);
  let side = 28;
  for (let s = 0; s < stages && side >= 7; s++) {
    const filters = widths[rng.int(widths.length)] as number;
    const strided = rng.next() < 0.5;
    layers.push({ kind: 'conv', filters, kernel: 3, stride: strided ? 2 : 1 }, { kind: 'relu' });
    if (!strided) layers.push({ kind: 'maxpool', size: 2 });
    side = Math.floor(side / 2);
  }
  layers.push({ kind: 'flatten' });
  for (let d = rng.int(3); d > 0; d--) layers.push({ kind: 'dense', units: 16 * (1 + rng.int(16)) }, { kind: 'relu' });
  layers.push({ kind: 'dense', units: 10 });
  return { name: `net${seed}-${index}`, input: [1, 28, 28], layers };
}

/** A short description of a network's layers, e.g. `c8s2,c16,p,d64,d10`. */
export function describeNet(spec: NetSpec): string {
  return spec.layers
    .map((l) =>
      l.kind === 'conv'
        ? `c${l.filters}${l.stride > 1 ? `s${l.stride}` : ''}`
        : l.kind === 'dense'
          ? `d${l.units}`
          : l.kind === 'maxpool'
            ? 'p'
            : '',
    )
    .filter(Boolean)
    .join(',');
}
