/**
 * Streaming comparison of two models on the same data: for each pair (a tensor of the reference
 * model, a tensor of the candidate), the cosine similarity and the relative error over all
 * samples. Both models get the requested tensors as extra graph outputs; values are reduced batch
 * by batch (dot product, norms, squared difference), so memory is one batch of activations, not
 * the dataset. The sensitivity fallback of int8-static and the layer analysis use it to find where
 * a quantized model departs from float.
 *
 * Why two measures: cosine ignores scale, so an output that is one number per sample (a voice
 * activity probability) can be 50% off and still have cosine 1.0 — on one sample the cosine of
 * two positive scalars is always exactly 1. The relative error ‖y − ŷ‖ / ‖y‖ catches that.
 */
import { EdgefleetError } from '@edgefleet/shared';
import { batchFeeds, runBatchSize, type Dataset } from '../data/tensor.js';
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import type { Model } from '../ir/types.js';
import { openSession } from './session.js';

/** One tensor of the reference model and the tensor of the candidate that should equal it. */
export interface TensorPair {
  readonly reference: string;
  readonly candidate: string;
}

/** How far a candidate tensor is from its reference over all samples. */
export interface TensorAgreement {
  /** Cosine similarity of the two tensors (all samples as one vector); 1 when both are all zero. */
  readonly cosine: number;
  /** ‖reference − candidate‖₂ / ‖reference‖₂ over all samples; 0 when both are all zero. */
  readonly relativeError: number;
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

interface Sums {
  dot: number;
  aa: number;
  bb: number;
  diff: number;
}

function accumulate(s: Sums, x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const u = x[i] ?? 0;
    const v = y[i] ?? 0;
    s.dot += u * v;
    s.aa += u * u;
    s.bb += v * v;
    s.diff += (u - v) * (u - v);
  }
}

function agreementOf(s: Sums): TensorAgreement {
  // Two all-zero tensors are identical; one all-zero tensor against a non-zero one is not.
  if (s.aa === 0 && s.bb === 0) return { cosine: 1, relativeError: 0 };
  return {
    cosine: s.dot / Math.sqrt(s.aa * s.bb || 1),
    relativeError: s.aa === 0 ? Number.POSITIVE_INFINITY : Math.sqrt(s.diff / s.aa),
  };
}

/** Cosine and relative error per pair (keyed by the reference name) over every sample of `data`. */
export async function compareModels(
  reference: Model,
  candidate: Model,
  pairs: readonly TensorPair[],
  data: Dataset,
  batchSize = 8,
): Promise<Map<string, TensorAgreement>> {
  const refNames = [...new Set(pairs.map((p) => p.reference))];
  const candNames = [...new Set(pairs.map((p) => p.candidate))];
  const a = await openSession(writeModel(withOutputs(reference, refNames)));
  const b = await openSession(writeModel(withOutputs(candidate, candNames)));
  const acc = new Map(pairs.map((p) => [p.reference, { dot: 0, aa: 0, bb: 0, diff: 0 }]));
  try {
    const bs = runBatchSize(data, a.inputs, batchSize);
    for (let start = 0; start < data.count; start += bs) {
      const feeds = batchFeeds(data, start, Math.min(data.count, start + bs));
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
        accumulate(s, x, y);
      }
    }
  } finally {
    await a.release();
    await b.release();
  }
  return new Map([...acc].map(([k, s]) => [k, agreementOf(s)]));
}
