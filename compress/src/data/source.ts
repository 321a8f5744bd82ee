import { existsSync, statSync } from 'node:fs';
import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import { loadMnist, MNIST_SPLIT_SIZES, type MnistSplit } from './mnist.js';
import { parseShape, randomForInputs, randomOfShape, resolveInputDims, type RandomDataOptions } from './random.js';
import { syntheticTextImages } from './synthetic-text.js';
import { readSampleDir } from './sample-dir.js';
import { formatDims, type Dataset, type ModelInputSpec, type SampleTensor } from './tensor.js';

/**
 * One entry point for every data spec the CLI accepts:
 *
 * - `mnist`, `mnist:SPLIT`, `mnist:N`, `mnist:SPLIT:N` — labelled MNIST digits; SPLIT is
 *   train|calib|test (default from `defaultSplit`), N takes the first N of the split. The
 *   layout follows the model: rank-2 input → [N,784], rank-4 → [N,1,28,28].
 * - `random:N` — N seeded samples for every model input (dtype and dims from the model).
 * - `random:SHAPE` — e.g. `random:8x1x28x28`, one float32 tensor for a one-input model.
 * - `text:N` — N seeded synthetic text pages for a one-input image model (PaddleOCR).
 * - anything else — a sample directory (see sample-dir.ts).
 *
 * The returned dataset's inputs are keyed by the model's input names and checked against
 * the model's declared shapes ({@link assertDatasetFits}).
 */
export interface DataSourceOptions extends RandomDataOptions {
  /** MNIST split when the spec names none: `test` for evaluation, `calib` for calibration. */
  readonly defaultSplit?: MnistSplit;
  /** Fixed dims for symbolic model dims (`--shape NAME=D1,D2,…`). */
  readonly shapes?: Readonly<Record<string, readonly number[]>>;
}

function parseMnistSpec(rest: string[], defaultSplit: MnistSplit): { split: MnistSplit; limit?: number } {
  let split = defaultSplit;
  let limit: number | undefined;
  for (const part of rest) {
    if (part in MNIST_SPLIT_SIZES) split = part as MnistSplit;
    else if (/^\d+$/.test(part) && Number(part) > 0) limit = Number(part);
    else
      throw new EdgefleetError(
        'EF_ERR_DATA_SOURCE',
        `"${part}" in an mnist spec is neither a split (train, calib, test) nor a positive count; e.g. mnist:test or ` +
          `mnist:calib:256`,
        { part },
      );
  }
  return limit === undefined ? { split } : { split, limit };
}

function loadMnistFor(rest: string[], inputs: readonly ModelInputSpec[], opts: DataSourceOptions): Dataset {
  const { split, limit } = parseMnistSpec(rest, opts.defaultSplit ?? 'test');
  const input = inputs[0];
  if (!input || inputs.length !== 1)
    throw new EdgefleetError(
      'EF_ERR_DATA_SHAPE',
      `MNIST data has one input [N,784] or [N,1,28,28] but the model has ${inputs.length} inputs`,
      { modelInputs: inputs.map((i) => i.name) },
    );
  const layout = input.dims.length === 4 ? 'image' : 'flat';
  return loadMnist({ split, layout, inputName: input.name, ...stripUndefined({ limit }) });
}

/** Load a data spec for a model with the given inputs; throws EF_ERR_DATA_* with advice. */
export function loadDataSource(spec: string, inputs: readonly ModelInputSpec[], opts: DataSourceOptions = {}): Dataset {
  const [kind, ...rest] = spec.split(':');
  let ds: Dataset;
  if (kind === 'mnist') ds = loadMnistFor(rest, inputs, opts);
  else if (kind === 'random' && rest.length === 1 && /^\d+$/.test(rest[0] ?? ''))
    ds = randomForInputs(inputs, Number(rest[0]), opts);
  else if (kind === 'random') {
    const only = inputs[0];
    if (!only || inputs.length !== 1)
      throw new EdgefleetError(
        'EF_ERR_DATA_SOURCE',
        `random:SHAPE fits one-input models; this model has ${inputs.length} inputs, use random:N (and --shape for ` +
          `symbolic dims)`,
        {},
      );
    ds = randomOfShape(parseShape(rest.join(':')), only.name, opts);
  } else if (kind === 'text' && rest.length === 1 && /^\d+$/.test(rest[0] ?? ''))
    ds = textFor(inputs, Number(rest[0]), opts);
  else if (existsSync(spec) && statSync(spec).isDirectory())
    ds = samplesPerFeed(renameToInputs(readSampleDir(spec), inputs), inputs);
  else
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `data "${spec}" is not mnist[:SPLIT][:N], random:N, random:SHAPE, text:N or an existing sample directory`,
      { spec },
    );
  assertDatasetFits(ds, inputs);
  return ds;
}

/** `text:N`: N seeded synthetic text pages (data/synthetic-text.ts) for a one-input image model [N, C, H, W]. */
function textFor(inputs: readonly ModelInputSpec[], count: number, opts: DataSourceOptions): Dataset {
  const only = inputs[0];
  if (!only || inputs.length !== 1 || only.dims.length !== 4)
    throw new EdgefleetError(
      'EF_ERR_DATA_SOURCE',
      `text:N makes [N, C, H, W] images for a one-input model; this model has ${inputs.length} ` +
        `input(s)${only ? ` (${only.name} ${formatDims(only.dims)})` : ''}`,
      {},
    );
  const dims = resolveInputDims(only, count, opts.shapes);
  return syntheticTextImages([count, dims[1], dims[2], dims[3]] as [number, number, number, number], only.name, {
    seed: opts.seed ?? 1,
  });
}

/** A one-tensor dataset for a one-input model is matched by position; otherwise by name. */
function renameToInputs(ds: Dataset, inputs: readonly ModelInputSpec[]): Dataset {
  const entries = Object.entries(ds.inputs);
  const first = entries[0];
  const only = inputs[0];
  if (entries.length === 1 && inputs.length === 1 && first && only && first[0] !== only.name) {
    return { ...ds, inputs: { [only.name]: first[1] } };
  }
  return ds;
}

/**
 * A directory may store each sample as one whole feed: `[N,1,25,96]` for a model input `[1,25,96]`
 * (the model's own batch axis kept). Its leading two axes then merge into the sample axis (the
 * data is row-major, so this is a change of dims only), giving `[N,25,96]`, fed one at a time.
 */
function samplesPerFeed(ds: Dataset, inputs: readonly ModelInputSpec[]): Dataset {
  const merged: Record<string, SampleTensor> = { ...ds.inputs };
  let count = ds.count;
  for (const input of inputs) {
    const t = ds.inputs[input.name];
    const batch = input.dims[0];
    if (!t || t.dims.length !== input.dims.length + 1 || typeof batch !== 'number' || batch <= 0) continue;
    if (!dimsFit(input.dims, t.dims.slice(1)) || t.dims[1] !== batch) continue;
    const dims = [(t.dims[0] ?? 0) * batch, ...t.dims.slice(2)];
    merged[input.name] = { ...t, dims };
    count = Math.max(count, dims[0] ?? 0);
  }
  return { ...ds, count, inputs: merged };
}

/** True when the data dims satisfy the declared dims (symbolic dims match anything). */
export function dimsFit(declared: ModelInputSpec['dims'], actual: readonly number[]): boolean {
  if (declared.length !== actual.length) return false;
  // The batch dim may differ from a fixed model batch: the evaluator feeds matching slices.
  return declared.every((d, i) => typeof d !== 'number' || d <= 0 || i === 0 || d === actual[i]);
}

/** Throw EF_ERR_DATA_SHAPE naming both shapes when the data cannot feed the model. */
export function assertDatasetFits(ds: Dataset, inputs: readonly ModelInputSpec[]): void {
  for (const input of inputs) {
    const whole = ds.fixed?.[input.name];
    if (whole && !ds.inputs[input.name]) {
      // A fixed input is fed as it is: every dim must fit, the first one included.
      const fits =
        whole.dims.length === input.dims.length &&
        input.dims.every((d, i) => typeof d !== 'number' || d <= 0 || d === whole.dims[i]);
      if (!fits)
        throw new EdgefleetError(
          'EF_ERR_DATA_SHAPE',
          `data ${ds.source} gives fixed input "${input.name}" the shape ${formatDims(whole.dims)} but the model ` +
            `expects ${formatDims(input.dims)}`,
          { input: input.name, dataDims: [...whole.dims], modelDims: [...input.dims] },
        );
      continue;
    }
    const t: SampleTensor | undefined = ds.inputs[input.name];
    if (!t) {
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `data ${ds.source} has no tensor for model input "${input.name}" (it has: ` +
          `${Object.keys(ds.inputs).join(', ') || 'none'})`,
        { input: input.name },
      );
    }
    if (!dimsFit(input.dims, t.dims)) {
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `data ${ds.source} has shape ${formatDims(t.dims)} but model input "${input.name}" expects ` +
          `${formatDims(input.dims)}`,
        { input: input.name, dataDims: [...t.dims], modelDims: [...input.dims] },
      );
    }
    const batch = input.dims[0];
    if (typeof batch === 'number' && batch > 0 && (t.dims[0] ?? 0) % batch !== 0) {
      throw new EdgefleetError(
        'EF_ERR_DATA_SHAPE',
        `data ${ds.source} has ${t.dims[0]} samples, not a multiple of model input "${input.name}"'s fixed batch ` +
          `${batch} (${formatDims(input.dims)})`,
        { input: input.name },
      );
    }
  }
}
