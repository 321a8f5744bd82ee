/**
 * The narrow session surface compression needs, on top of the toolkit's single onnxruntime wrapper
 * (runtime/ort.ts): feed plain typed arrays, get float32 outputs back.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { DeclaredInput } from '../data/tensor.js';
import { createOrtSession, type RuntimeTensor } from '../runtime/ort.js';

/** A plain tensor fed to a session. */
export interface FeedTensor {
  readonly dtype: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;
}

/** An open session. */
export interface CompressSession {
  /** The model's declared inputs (fixed dims as numbers), for choosing how many samples a run takes. */
  readonly inputs: readonly DeclaredInput[];
  run(
    feeds: Record<string, FeedTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, { dims: readonly number[]; data: Float32Array }>>;
  release(): Promise<void>;
}

/** Open a session on model bytes (1 intra-op thread unless told otherwise). */
export async function openSession(bytes: Uint8Array, opts: { threads?: number } = {}): Promise<CompressSession> {
  const s = await createOrtSession(bytes, { intraOpNumThreads: opts.threads ?? 1 });
  return {
    inputs: s.inputs.map((i) => ({ name: i.name, shape: i.shape })),
    async run(feeds, outputs) {
      const r = await s.run(feeds as Record<string, RuntimeTensor>, outputs);
      const out: Record<string, { dims: readonly number[]; data: Float32Array }> = {};
      for (const [k, v] of Object.entries(r)) {
        if (v.dtype === 'string' || v.dtype === 'int64' || v.dtype === 'uint64') {
          throw new EdgefleetError(
            'EF_ERR_EVAL_RUNTIME',
            `output ${k} is ${v.dtype}, calibration needs float tensors`,
            { output: k },
          );
        }
        out[k] = { dims: v.dims, data: v.data instanceof Float32Array ? v.data : Float32Array.from(v.data) };
      }
      return out;
    },
    release: () => s.release(),
  };
}
