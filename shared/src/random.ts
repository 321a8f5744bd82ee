/**
 * The one seeded pseudo-random generator of the project (no `Math.random` where a result must
 * replay): the toolkit's splits, synthetic samples, shuffles and weight init, the simulators'
 * farms, jitter and faults, and the server's rollout ids in scenarios. The same seed gives the
 * same numbers on every machine.
 *
 * The generator is mulberry32: 32 bits of state, period 2^32, fast and good enough for
 * shuffling, simulation and synthetic inputs (not for cryptography).
 */
export interface Rng {
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
  /** Next float in [0, 1). */
  next(): number;
  /** Next integer in [0, n). */
  int(n: number): number;
  /** Next float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Next standard normal sample (Box-Muller). */
  normal(): number;
  /** Shuffle `items` in place (Fisher-Yates) and return it. */
  shuffle<T>(items: T[]): T[];
}

/** Create a generator from a seed (any integer; reduced to 32 bits). */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new TypeError(`seed must be a finite number, got ${seed}`);
  let state = Math.trunc(seed) >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
  const next = (): number => nextUint32() / 4294967296;
  const rng: Rng = {
    nextUint32,
    next,
    int: (n) => {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`int(n) needs a positive integer, got ${n}`);
      return Math.floor(next() * n);
    },
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    normal: () => {
      // 1 - u keeps the logarithm finite: next() can return 0 but never 1.
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = items[i] as (typeof items)[number];
        items[i] = items[j] as (typeof items)[number];
        items[j] = tmp;
      }
      return items;
    },
  };
  return Object.freeze(rng);
}

/**
 * Derive an independent seed for a named purpose (e.g. `deriveSeed(seed, 'split')`), so
 * changing how many numbers one consumer draws never shifts another consumer's stream.
 * FNV-1a over the label, mixed with the seed.
 */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ (Math.trunc(seed) >>> 0)) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The generator as a bare `() => number` in [0, 1), the shape `RandomSource` consumers take. */
export function createSeededRandom(seed: number): () => number {
  return createRng(seed).next;
}

/** Fisher–Yates shuffle of a copy, driven by `random`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
