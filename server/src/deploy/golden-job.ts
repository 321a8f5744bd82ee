/**
 * A golden set against one variant, on this host (issue 21): make one from data (MNIST, the
 * model's registered evaluation data, or samples the CLI read from a directory), or check a
 * given one, the way the agent's smoke test will use it [EF-PROTO 6.5]: the model's float32
 * input names and dims, one run of every row as one batch, argmax per row. Runs in a worker
 * thread (golden-worker.ts): onnxruntime's run blocks the thread it runs on.
 */
import {
  asError,
  describeGoldenLimit,
  EdgefleetError,
  type GoldenSet,
  goldenRowBytes,
  isEdgefleetError,
  maxGoldenRows,
  scoreGoldenOutputs,
} from '@edgefleet/shared';
import {
  loadDataSource,
  loadModel,
  modelInputsOf,
  readModelBytes,
  type Dataset,
  type ModelInputSpec,
} from '@edgefleet/compress';
import { sliceDataset } from '@edgefleet/compress/data/tensor';
import { createOrtSession } from '@edgefleet/compress/runtime/ort';

/** Where a made golden set's rows come from. */
export type GoldenData =
  | { readonly kind: 'spec'; readonly spec: string }
  | { readonly kind: 'samples'; readonly inputs: GoldenSet['inputs']; readonly labels: readonly number[] };

export type GoldenJob =
  | {
      readonly mode: 'make';
      readonly artifactPath: string;
      readonly data: GoldenData;
      /** Rows wanted; default as many as fit, at most 64. */
      readonly count?: number;
      readonly marginPts: number;
      readonly shapes: Readonly<Record<string, readonly number[]>>;
    }
  | { readonly mode: 'check'; readonly artifactPath: string; readonly golden: GoldenSet };

/** What a host run found. */
export interface GoldenHostRun {
  readonly golden: GoldenSet;
  readonly rows: number;
  readonly correct: number;
  readonly hostAccuracy: number;
  readonly rowBytes: number;
  readonly maxRows: number;
  readonly inputs: readonly { readonly name: string; readonly dims: readonly (number | string | null)[] }[];
}

export type GoldenJobResult =
  | ({ readonly ok: true } & GoldenHostRun)
  | { readonly ok: false; readonly code: string; readonly message: string };

const DEFAULT_ROWS = 64;

const invalid = (message: string, details: Record<string, unknown> = {}) =>
  new EdgefleetError('EF_ERR_ROLLOUT_INVALID', message, details);

const dimsText = (dims: readonly (number | string | null)[]) => `[${dims.map((d) => d ?? '?').join(', ')}]`;

/** Every way the golden set cannot feed the model, in one message; [] when it fits. */
export function goldenMismatches(golden: GoldenSet, inputs: readonly ModelInputSpec[]): string[] {
  const problems: string[] = [];
  const rows = golden.labels.length;
  const given = new Set(Object.keys(golden.inputs));
  for (const input of inputs) {
    const t = golden.inputs[input.name];
    if (!t) {
      problems.push(`the model's input "${input.name}" ${dimsText(input.dims)} is missing`);
      continue;
    }
    given.delete(input.name);
    if (input.dtype !== 'float32') problems.push(`input "${input.name}" is ${input.dtype}; golden sets carry float32`);
    if (t.dims[0] !== rows) problems.push(`input "${input.name}" has ${t.dims[0]} rows but there are ${rows} labels`);
    if (input.dims.length > 0 && t.dims.length !== input.dims.length)
      problems.push(`input "${input.name}" has dims ${dimsText(t.dims)}; the model declares ${dimsText(input.dims)}`);
    else
      input.dims.forEach((d, i) => {
        if (typeof d === 'number' && t.dims[i] !== d)
          problems.push(
            `input "${input.name}" has dims ${dimsText(t.dims)}; the model declares ${dimsText(input.dims)}` +
              (i === 0 ? ' (the agent runs every row as one batch)' : ''),
          );
      });
  }
  for (const extra of given)
    problems.push(`"${extra}" is not an input of the model (it has ${inputs.map((i) => `"${i.name}"`).join(', ')})`);
  return [...new Set(problems)];
}

function toBase64(data: ArrayLike<number>): string {
  const f = Float32Array.from(data);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** The first `count` rows of a labelled dataset as golden inputs and labels. */
function rowsOf(ds: Dataset, count: number): { inputs: GoldenSet['inputs']; labels: number[] } {
  if (!ds.labels)
    throw invalid(`the data (${ds.source}) has no labels; a golden set needs the expected label of each row`);
  const part = sliceDataset(ds, 0, count);
  const inputs: Record<string, { dims: number[]; data: string }> = {};
  for (const [name, t] of Object.entries(part.inputs)) {
    if (t.dtype !== 'float32')
      throw invalid(`input "${name}" of ${ds.source} is ${t.dtype}; golden sets carry float32`);
    inputs[name] = { dims: [...t.dims], data: toBase64(t.data as Float32Array) };
  }
  return { inputs, labels: [...(part.labels ?? [])] };
}

/** A one-tensor sample set feeds a one-input model whatever the tensor's name (as sample directories do). */
function renamed(inputs: GoldenSet['inputs'], model: readonly ModelInputSpec[]): GoldenSet['inputs'] {
  const names = Object.keys(inputs);
  const only = model[0];
  if (names.length === 1 && model.length === 1 && only && names[0] !== only.name)
    return { [only.name]: inputs[names[0] as string] as GoldenSet['inputs'][string] };
  return inputs;
}

function rowBytesOf(inputs: readonly ModelInputSpec[]): number {
  let bytes = 0;
  for (const i of inputs) {
    const rest = i.dims.slice(1);
    if (rest.some((d) => typeof d !== 'number')) return 0;
    bytes += 4 * (rest as number[]).reduce((a, b) => a * b, 1);
  }
  return bytes;
}

async function runOnHost(bytes: Uint8Array, golden: GoldenSet): Promise<{ correct: number; accuracy: number }> {
  const session = await createOrtSession(bytes);
  try {
    const feeds = Object.fromEntries(
      Object.entries(golden.inputs).map(([name, t]) => {
        const raw = Buffer.from(t.data, 'base64');
        const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
        return [name, { dtype: 'float32' as const, dims: t.dims, data }];
      }),
    );
    const outputs = await session.run(feeds);
    const scored: Record<string, { dims: readonly number[]; data: ArrayLike<number> }> = {};
    for (const [name, t] of Object.entries(outputs))
      if (t.dtype === 'float32' || t.dtype === 'float64') scored[name] = { dims: t.dims, data: t.data };
    const names = session.outputs.map((o) => o.name);
    let score: ReturnType<typeof scoreGoldenOutputs>;
    try {
      score = scoreGoldenOutputs(golden, scored, names);
    } catch (err: unknown) {
      throw invalid(`the golden set does not fit the model's outputs: ${asError(err).message}`);
    }
    if (!score.finite) throw invalid('on this host the variant produced NaN or infinite values on the golden set');
    return { correct: score.correct, accuracy: score.accuracy };
  } finally {
    await session.release();
  }
}

async function make(job: Extract<GoldenJob, { mode: 'make' }>, bytes: Uint8Array, inputs: ModelInputSpec[]) {
  const rowBytes = rowBytesOf(inputs);
  const max = maxGoldenRows(rowBytes);
  const count = job.count ?? Math.min(max, DEFAULT_ROWS);
  if (count > max) throw invalid(`${count} rows asked; ${describeGoldenLimit(rowBytes)}`, { count, max, rowBytes });
  let rows: { inputs: GoldenSet['inputs']; labels: number[] };
  if (job.data.kind === 'spec') {
    const ds = loadDataSource(job.data.spec, inputs, { defaultSplit: 'test', shapes: job.shapes });
    if (ds.count < count) throw invalid(`${job.data.spec} holds ${ds.count} samples, fewer than the ${count} asked`);
    rows = rowsOf(ds, count);
  } else rows = { inputs: renamed(job.data.inputs, inputs), labels: [...job.data.labels] };
  const draft: GoldenSet = { inputs: rows.inputs, labels: rows.labels, minAccuracy: 0 };
  const problems = goldenMismatches(draft, inputs);
  if (problems.length > 0) throw invalid(`these samples do not fit the variant: ${problems.join('; ')}`);
  const host = await runOnHost(bytes, draft);
  // Rounded down to 4 decimals so the stated margin is never less than promised.
  const minAccuracy = Math.max(0, Math.floor((host.accuracy - job.marginPts / 100) * 10_000) / 10_000);
  return { golden: { ...draft, minAccuracy }, host, rowBytes, max };
}

/** Runs one job; expected failures come back as `{ok: false}` with their code. */
export async function runGoldenJob(job: GoldenJob): Promise<GoldenJobResult> {
  try {
    const bytes = await readModelBytes(job.artifactPath);
    const inputs = modelInputsOf(loadModel(bytes));
    const summary = inputs.map((i) => ({ name: i.name, dims: [...i.dims] }));
    if (job.mode === 'make') {
      const { golden, host, rowBytes, max } = await make(job, bytes, inputs);
      const rows = golden.labels.length;
      return {
        ok: true,
        golden,
        rows,
        correct: host.correct,
        hostAccuracy: host.accuracy,
        rowBytes,
        maxRows: max,
        inputs: summary,
      };
    }
    const problems = goldenMismatches(job.golden, inputs);
    if (problems.length > 0)
      throw invalid(`the golden set does not fit the variant: ${problems.join('; ')}`, { problems });
    const host = await runOnHost(bytes, job.golden);
    const rowBytes = goldenRowBytes(job.golden.inputs);
    const rows = job.golden.labels.length;
    return {
      ok: true,
      golden: job.golden,
      rows,
      correct: host.correct,
      hostAccuracy: host.accuracy,
      rowBytes,
      maxRows: maxGoldenRows(rowBytes),
      inputs: summary,
    };
  } catch (err: unknown) {
    if (isEdgefleetError(err)) return { ok: false, code: err.code, message: err.message };
    return {
      ok: false,
      code: 'EF_ERR_ROLLOUT_INVALID',
      message: `the golden-set host run failed: ${asError(err).message}`,
    };
  }
}
