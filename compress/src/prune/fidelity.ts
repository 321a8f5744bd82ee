/**
 * How close a pruned model stays to the original on calibration data: the cosine between
 * their outputs (all outputs, all samples) and the share of samples whose top-1 of the first
 * output agrees. The original's outputs are computed once and reused for every candidate
 * (the sensitivity scan tries dozens). A candidate whose outputs differ in shape, or hold
 * NaN or infinity, is reported as such: never as a close model.
 */
import type { Dataset } from '../data/tensor.js';
import { sliceDataset } from '../data/tensor.js';
import { writeModel, type Model } from '../ir/index.js';
import { openSession, type FeedTensor } from '../calibration/session.js';

/** Outputs of a model over a dataset, by output name, concatenated over batches. */
export interface Outputs {
  readonly names: readonly string[];
  readonly values: ReadonlyMap<string, Float32Array>;
  /** Width of the first output per sample (its argmax is top-1). */
  readonly rowWidth: number;
  readonly samples: number;
}

/** Agreement of a candidate with the reference. */
export interface Fidelity {
  readonly samples: number;
  readonly cosine: number;
  /** Share of samples whose argmax over the last axis of the first output agrees (every position must). */
  readonly agreement: number;
  /** Why the candidate is not comparable (shape change, non-finite values), if it is not. */
  readonly problem?: string;
}

function feeds(ds: Dataset): Record<string, FeedTensor> {
  return Object.fromEntries(
    Object.entries(ds.inputs).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims, data: t.data }]),
  );
}

/** Runs `model` over `data` in batches and keeps every output. */
export async function runOutputs(model: Model | Uint8Array, data: Dataset, batchSize = 32): Promise<Outputs> {
  const session = await openSession(model instanceof Uint8Array ? model : writeModel(model));
  const parts = new Map<string, Float32Array[]>();
  let rowWidth = 0;
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const out = await session.run(feeds(sliceDataset(data, start, end)));
      for (const [name, t] of Object.entries(out)) {
        if (!parts.has(name)) parts.set(name, []);
        parts.get(name)?.push(t.data.slice());
        if (rowWidth === 0) rowWidth = t.dims[t.dims.length - 1] ?? 1;
      }
    }
  } finally {
    await session.release();
  }
  const values = new Map<string, Float32Array>();
  for (const [name, chunks] of parts) {
    const all = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    values.set(name, all);
  }
  return { names: [...values.keys()], values, rowWidth, samples: data.count };
}

/** Compares candidate outputs with the reference's. */
export function compareOutputs(reference: Outputs, candidate: Outputs): Fidelity {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (const name of reference.names) {
    const a = reference.values.get(name);
    const b = candidate.values.get(name);
    if (!a || !b || a.length !== b.length)
      return { samples: reference.samples, cosine: 0, agreement: 0, problem: `output ${name} changed shape` };
    for (let i = 0; i < a.length; i++) {
      const u = a[i] as number;
      const v = b[i] as number;
      if (!Number.isFinite(v))
        return { samples: reference.samples, cosine: 0, agreement: 0, problem: `output ${name} has non-finite values` };
      dot += u * v;
      aa += u * u;
      bb += v * v;
    }
  }
  const cosine = aa === 0 && bb === 0 ? 1 : dot / Math.sqrt(aa * bb || 1);
  const first = reference.names[0] ?? '';
  const a = reference.values.get(first) as Float32Array;
  const b = candidate.values.get(first) as Float32Array;
  const w = reference.rowWidth;
  const rows = a.length / w;
  const perSample = rows / reference.samples;
  let agree = 0;
  for (let s = 0; s < reference.samples; s++) {
    let all = true;
    for (let r = s * perSample; r < (s + 1) * perSample && all; r++) all = argmax(a, r * w, w) === argmax(b, r * w, w);
    if (all) agree++;
  }
  return { samples: reference.samples, cosine, agreement: agree / Math.max(1, reference.samples) };
}

function argmax(v: Float32Array, offset: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if ((v[offset + j] as number) > (v[offset + best] as number)) best = j;
  return best;
}

/** A subset of the data for checks (the first `n` samples). */
export function firstSamples(data: Dataset, n: number): Dataset {
  return n >= data.count ? data : sliceDataset(data, 0, n);
}
