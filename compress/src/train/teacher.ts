import { EdgefleetError } from '@edgefleet/shared';
import { loadModel } from '../ir/decode.js';
import { writeModel } from '../ir/encode.js';
import type { Model } from '../ir/types.js';
import { createOrtSession, type OrtSession } from '../runtime/ort.js';
import { logitsValueOf } from './graph/trainable.js';

/**
 * The teacher of a distillation, run by onnxruntime (any model it runs, trainable or not) on
 * each augmented batch the student sees. Intermediate tensors for feature matching are made
 * graph outputs of a private copy, so onnxruntime keeps and returns them.
 */

/** One teacher output: values and dims (ONNX layout). */
export interface TeacherTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** A loaded teacher; `release()` frees the session. */
export interface Teacher {
  readonly inputName: string;
  /** The tensor KD matches: the logits (a final Softmax's input when the model ends in one). */
  readonly logitsName: string;
  /** Run a batch (ONNX layout); returns the logits and every requested feature tensor. */
  run(batch: Float32Array, dims: readonly number[]): Promise<Map<string, TeacherTensor>>;
  /** Per-sample dims of every output for samples of `sampleDims` (one run on zeros). */
  shapes(sampleDims: readonly number[]): Promise<Map<string, number[]>>;
  release(): Promise<void>;
}

function exposeOutputs(model: Model, names: readonly string[]): Uint8Array {
  const copy = loadModel(writeModel(model));
  const g = copy.graph;
  for (const name of names) {
    if (g.outputs.some((o) => o.name === name)) continue;
    if (!g.producerOf(name))
      throw new EdgefleetError('EF_ERR_TRAIN_OPTIONS', `the teacher has no value "${name}" to match features on`, {
        value: name,
      });
    g.addOutput({ name, type: undefined, docString: '' });
  }
  return writeModel(copy);
}

/** Load a teacher from a model, exposing `features` (value names) as extra outputs. */
export async function createTeacher(model: Model, features: readonly string[] = []): Promise<Teacher> {
  const inputs = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  const input = inputs[0];
  if (inputs.length !== 1 || !input)
    throw new EdgefleetError(
      'EF_ERR_TRAIN_UNSUPPORTED',
      `a teacher needs one input; this one has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`,
      {},
    );
  const logitsName = logitsValueOf(model.graph);
  const wanted = [logitsName, ...features.filter((f) => f !== logitsName)];
  const session: OrtSession = await createOrtSession(exposeOutputs(model, wanted));
  const declared = input.type?.kind === 'tensor' ? input.type.shape?.[0] : undefined;
  const fixedBatch = typeof declared === 'number' && declared > 0 ? declared : undefined;
  const teacher: Teacher = {
    inputName: input.name,
    logitsName,
    async shapes(sampleDims) {
      const one = fixedBatch ?? 1;
      const n = sampleDims.reduce((a, b) => a * b, 1);
      const out = await teacher.run(new Float32Array(one * n), [one, ...sampleDims]);
      return new Map([...out].map(([name, t]) => [name, t.dims.slice(1)]));
    },
    async run(batch, dims) {
      const n = dims[0] as number;
      const per = batch.length / n;
      // A model with a fixed batch (often 1) is fed slice by slice and the outputs joined.
      const step = fixedBatch ?? n;
      const parts: Array<Map<string, TeacherTensor>> = [];
      for (let at = 0; at < n; at += step) {
        const data = batch.subarray(at * per, (at + step) * per);
        const out = await session.run(
          { [input.name]: { dtype: 'float32', dims: [step, ...dims.slice(1)], data } },
          wanted,
        );
        const m = new Map<string, TeacherTensor>();
        for (const name of wanted) {
          const t = out[name];
          if (t?.dtype !== 'float32') throw new Error(`teacher output ${name} is not float32`);
          m.set(name, { data: t.data, dims: t.dims });
        }
        parts.push(m);
      }
      return parts.length === 1 ? (parts[0] as Map<string, TeacherTensor>) : joinBatches(parts, wanted);
    },
    release: () => session.release(),
  };
  return teacher;
}

function joinBatches(
  parts: ReadonlyArray<Map<string, TeacherTensor>>,
  names: readonly string[],
): Map<string, TeacherTensor> {
  const out = new Map<string, TeacherTensor>();
  for (const name of names) {
    const pieces = parts.map((p) => p.get(name) as TeacherTensor);
    const total = pieces.reduce((a, p) => a + p.data.length, 0);
    const data = new Float32Array(total);
    let at = 0;
    for (const p of pieces) {
      data.set(p.data, at);
      at += p.data.length;
    }
    const rows = pieces.reduce((a, p) => a + (p.dims[0] ?? 0), 0);
    out.set(name, { data, dims: [rows, ...(pieces[0]?.dims.slice(1) ?? [])] });
  }
  return out;
}
