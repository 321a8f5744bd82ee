import { EdgefleetError } from '@edgefleet/shared';
import { createRng, deriveSeed } from './prng.js';
import {
  allocData,
  elementCount,
  formatDims,
  type Dataset,
  type ModelInputSpec,
  type SampleDtype,
  type SampleTensor,
} from './tensor.js';

/** Seed used by `random:` sources unless the caller gives one. */
export const RANDOM_DATA_SEED = 7;

/** Largest synthetic tensor we will allocate (elements), so a typo cannot exhaust memory. */
export const RANDOM_MAX_ELEMENTS = 64 * 1024 * 1024;

/** Options of the synthetic data generator. */
export interface RandomDataOptions {
  /** Seed; default {@link RANDOM_DATA_SEED}. */
  readonly seed?: number;
  /** Range of float values; default [0, 1), like image pixels. */
  readonly floatRange?: readonly [number, number];
  /** Integer values are drawn from [0, intHigh); default 10 (bool: [0, 2)). */
  readonly intHigh?: number;
}

const ONNX_TO_SAMPLE: Readonly<Record<string, SampleDtype>> = {
  float32: 'float32',
  float: 'float32',
  int32: 'int32',
  int64: 'int64',
  uint8: 'uint8',
  int8: 'int8',
  bool: 'bool',
};

/** Map an ONNX/ORT element type name to a sample dtype, or fail clearly. */
export function toSampleDtype(dtype: string, inputName: string): SampleDtype {
  const dt = ONNX_TO_SAMPLE[dtype];
  if (!dt)
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `input "${inputName}" has element type ${dtype}, which synthetic data does not support (float32, int32, int64, ` +
        `uint8, int8, bool)`,
      { input: inputName, dtype },
    );
  return dt;
}

/** One seeded tensor of the given dtype and dims. */
export function randomTensor(
  dtype: SampleDtype,
  dims: readonly number[],
  seed: number,
  opts: RandomDataOptions = {},
): SampleTensor {
  const n = elementCount(dims);
  if (!Number.isSafeInteger(n) || n > RANDOM_MAX_ELEMENTS) {
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `synthetic tensor ${formatDims(dims)} has ${n} elements, more than the limit of ${RANDOM_MAX_ELEMENTS}; ask ` +
        `for fewer samples`,
      { dims },
    );
  }
  const rng = createRng(seed);
  const data = allocData(dtype, n);
  const [lo, hi] = opts.floatRange ?? [0, 1];
  const high = dtype === 'bool' ? 2 : (opts.intHigh ?? 10);
  for (let i = 0; i < n; i++) {
    if (data instanceof Float32Array) data[i] = rng.uniform(lo, hi);
    else if (data instanceof BigInt64Array) data[i] = BigInt(rng.int(high));
    else data[i] = rng.int(high);
  }
  return { dtype, dims: [...dims], data };
}

/** Parse `8x784` or `8,1,28,28` into dims; every entry a positive integer. */
export function parseShape(text: string): number[] {
  const parts = text.split(/[x,]/);
  const dims = parts.map((p) => Number(p));
  if (text === '' || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `"${text}" is not a shape; write positive integers joined by x or commas, e.g. random:8x1x28x28`,
      { shape: text },
    );
  }
  return dims;
}

/**
 * Resolve a model input's dims for N samples stacked along its first (batch) axis: the first dim
 * becomes N — also when the model fixes it (a `[1,25,96]` input gets `[N,25,96]`, fed one sample
 * per run; a fixed batch B > 1 gets N rounded up to a multiple of B). Other symbolic dims must be
 * fixed by `overrides` (the `--shape NAME=D1,D2,…` flag, which gives one feed's full shape) or
 * the call fails naming the input.
 */
export function resolveInputDims(
  input: ModelInputSpec,
  count: number,
  overrides: Readonly<Record<string, readonly number[]>> = {},
): number[] {
  const forced = overrides[input.name];
  const declared: ReadonlyArray<number | string | null> = forced ?? input.dims;
  return declared.map((d, i) => {
    if (i === 0) return typeof d === 'number' && d > 1 ? Math.ceil(count / d) * d : count;
    if (typeof d === 'number' && d > 0) return d;
    throw new EdgefleetError(
      'EF_ERR_DATA_SHAPE',
      `input "${input.name}" has shape ${formatDims(input.dims)} with a symbolic dimension at position ${i}; fix it ` +
        `with --shape ${input.name}=D1,D2,…`,
      { input: input.name, dims: input.dims },
    );
  });
}

/**
 * `random:N`: N seeded samples for every declared model input (float and integer). Inputs of
 * rank ≥ 1 are stacked N deep along their first axis; a scalar input (rank 0) cannot be, so it is
 * one fixed seeded value fed with every sample.
 */
export function randomForInputs(
  inputs: readonly ModelInputSpec[],
  count: number,
  opts: RandomDataOptions & { readonly shapes?: Readonly<Record<string, readonly number[]>> } = {},
): Dataset {
  const seed = opts.seed ?? RANDOM_DATA_SEED;
  const tensors: Record<string, SampleTensor> = {};
  const fixed: Record<string, SampleTensor> = {};
  let n = count;
  for (const input of inputs) {
    const dtype = toSampleDtype(input.dtype, input.name);
    if (input.dims.length === 0 && !opts.shapes?.[input.name]) {
      fixed[input.name] = randomTensor(dtype, [], deriveSeed(seed, input.name), opts);
      continue;
    }
    const dims = resolveInputDims(input, count, opts.shapes);
    n = Math.max(n, dims[0] ?? 1);
    tensors[input.name] = randomTensor(dtype, dims, deriveSeed(seed, input.name), opts);
  }
  const base = { source: `random:${count}`, count: n, inputs: tensors };
  return Object.keys(fixed).length > 0 ? { ...base, fixed } : base;
}

/** `random:SHAPE`: one float32 tensor of exactly that shape (first dim = sample count). */
export function randomOfShape(dims: readonly number[], inputName: string, opts: RandomDataOptions = {}): Dataset {
  const t = randomTensor('float32', dims, deriveSeed(opts.seed ?? RANDOM_DATA_SEED, inputName), opts);
  return { source: `random:${dims.join('x')}`, count: dims[0] ?? 1, inputs: { [inputName]: t } };
}
