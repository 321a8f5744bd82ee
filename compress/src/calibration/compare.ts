/**
 * Streaming comparison of two models on the same data: for each pair (a tensor of the reference
 * model, a tensor of the candidate), the cosine similarity over all samples. Both models get the
 * requested tensors as extra graph outputs; values are reduced batch by batch (dot product and
 * norms), so memory is one batch of activations, not the dataset. The sensitivity fallback of
 * int8-static and the layer analysis use it to find where a quantized model departs from float.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { Dataset, SampleTensor } from '../data/tensor.js';
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import type { Model } from '../ir/types.js';
import { openSession, type FeedTensor } from './session.js';

/** One tensor of the reference model and the tensor of the candidate that should equal it. */
export interface TensorPair {
  readonly reference: string;
  readonly candidate: string;
}

/** A copy of `model` whose graph also outputs `tensors` (declared float32). */
export function withOutputs(model: Model, tensors: readonly string[]): Model {
  const copy = loadModel(writeModel(model));
  for (const name of tensors) {
    if (copy.graph.isGraphOutput(name)) continue;
    copy.graph.outputs.push({
      name,
      type: { kind: 'tensor', elemType: 'float32', shape: undefined, denotation: '' },
      docString: '',
    });
  }
  return copy;
}

/** Rows [start, end) of a sample tensor as a feed. */
export function sliceFeed(t: SampleTensor, start: number, end: number): FeedTensor {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { dtype: t.dtype, dims: [end - start, ...t.dims.slice(1)], data: t.data.subarray(start * per, end * per) };
}

/** Cosine similarity per pair (keyed by the reference name) over every sample of `data`. */
export async function compareModels(
  reference: Model,
  candidate: Model,
  pairs: readonly TensorPair[],
  data: Dataset,
  batchSize = 8,
): Promise<Map<string, number>> {
  const refNames = [...new Set(pairs.map((p) => p.reference))];
  const candNames = [...new Set(pairs.map((p) => p.candidate))];
  const a = await openSession(writeModel(withOutputs(reference, refNames)));
  const b = await openSession(writeModel(withOutputs(candidate, candNames)));
  const acc = new Map(pairs.map((p) => [p.reference, { dot: 0, aa: 0, bb: 0 }]));
  try {
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(data.count, start + batchSize);
      const feeds: Record<string, FeedTensor> = {};
      for (const [name, t] of Object.entries(data.inputs)) feeds[name] = sliceFeed(t, start, end);
      const ra = await a.run(feeds, refNames);
      const rb = await b.run(feeds, candNames);
      for (const p of pairs) {
        const x = ra[p.reference]?.data;
        const y = rb[p.candidate]?.data;
        const s = acc.get(p.reference);
        if (!x || !y || !s)
          throw new EdgefleetError(
            'EF_ERR_EVAL_RUNTIME',
            `no value for ${p.reference} / ${p.candidate} while comparing models`,
            { pair: p },
          );
        if (x.length !== y.length)
          throw new EdgefleetError(
            'EF_ERR_EVAL_RUNTIME',
            `${p.reference} has ${x.length} values in the reference and ${y.length} in the candidate`,
            { pair: p },
          );
        for (let i = 0; i < x.length; i++) {
          const u = x[i] ?? 0;
          const v = y[i] ?? 0;
          s.dot += u * v;
          s.aa += u * u;
          s.bb += v * v;
        }
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  // Two all-zero tensors are identical; one all-zero tensor against a non-zero one is not.
  return new Map([...acc].map(([k, s]) => [k, s.aa === 0 && s.bb === 0 ? 1 : s.dot / Math.sqrt(s.aa * s.bb || 1)]));
}
