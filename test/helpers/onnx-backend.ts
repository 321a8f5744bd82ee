/**
 * Running one ONNX backend node test (ONNX's own conformance data, Debian package libonnx-testdata:
 * DIR/model.onnx plus test_data_set_N/input_K.pb and output_K.pb) in onnxruntime, and comparing
 * outputs as ONNX's backend runner does: |actual − expected| ≤ atol + rtol·|expected| with
 * rtol 1e-3 and atol 1e-7 by default, NaN equal to NaN, integers, booleans and strings exact.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { float16BitsToFloat32, loadTensor, type Model, type Tensor } from '@edgefleet/compress/ir/index';
import type { OrtSession, RuntimeTensor } from '@edgefleet/compress/runtime/ort';

export const RTOL = 1e-3;
export const ATOL = 1e-7;

/** One test_data_set: input and expected output tensors in graph order. */
export interface DataSet {
  readonly inputs: Tensor[];
  readonly outputs: Tensor[];
}

/** Every test_data_set_* of a test directory. */
export function dataSetsOf(dir: string): DataSet[] {
  const sets = readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort();
  const read = (d: string, prefix: string): Tensor[] => {
    const files: Tensor[] = [];
    for (let i = 0; existsSync(join(dir, d, `${prefix}_${i}.pb`)); i++)
      files.push(loadTensor(new Uint8Array(readFileSync(join(dir, d, `${prefix}_${i}.pb`)))));
    return files;
  };
  return sets.map((d) => ({ inputs: read(d, 'input'), outputs: read(d, 'output') }));
}

/** Why a model's interface cannot be driven from Node (sequence/map/optional values), or undefined. */
export function interfaceProblem(model: Model): string | undefined {
  const real = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  for (const v of [...real, ...model.graph.outputs]) {
    if (v.type?.kind !== 'tensor')
      return `'${v.name}' is a sequence, map or optional value, which onnxruntime-node cannot feed or return`;
    if (
      (v.type.elemType && ['bfloat16', 'complex64', 'complex128'].includes(v.type.elemType)) ||
      v.type.elemType?.startsWith('float8') ||
      v.type.elemType?.endsWith('int4')
    )
      return `'${v.name}' is ${v.type.elemType}, which onnxruntime-node tensors do not carry`;
  }
  return undefined;
}

const decoder = new TextDecoder();

/** An IR tensor as a runtime feed. */
export function toFeed(t: Tensor): RuntimeTensor {
  if (t.dtype === 'string') return { dtype: 'string', dims: t.dims, data: t.data.map((b) => decoder.decode(b)) };
  return { dtype: t.dtype, dims: t.dims, data: t.data } as RuntimeTensor;
}

function numbersOf(t: Tensor | RuntimeTensor, half: boolean): number[] | string[] {
  if (t.dtype === 'string')
    return (t.data as Array<string | Uint8Array>).map((s) => (typeof s === 'string' ? s : decoder.decode(s)));
  const data = t.data as ArrayLike<number | bigint>;
  return Array.from(data, (v) => (half ? float16BitsToFloat32(Number(v)) : Number(v)));
}

/** Compare one output with its expected tensor; returns why they differ, or undefined. */
export function mismatch(got: RuntimeTensor | undefined, want: Tensor, name: string): string | undefined {
  if (!got) return `no output ${name}`;
  if (got.dims.join(',') !== want.dims.join(',')) return `${name}: dims [${got.dims}] vs expected [${want.dims}]`;
  const isFloat = ['float32', 'float64', 'float16'].includes(want.dtype);
  const a = numbersOf(got, got.dtype === 'float16');
  const e = numbersOf(want, want.dtype === 'float16');
  for (let i = 0; i < e.length; i++) {
    const x = a[i];
    const y = e[i];
    if (typeof x === 'string' || typeof y === 'string' || !isFloat) {
      if (x !== y) return `${name}[${i}]: ${String(x)} vs expected ${String(y)}`;
      continue;
    }
    if (x === undefined || y === undefined) return `${name}: ${a.length} values vs expected ${e.length}`;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= ATOL + RTOL * Math.abs(y))) return `${name}[${i}]: ${x} vs expected ${y}`;
  }
  return undefined;
}

/** Run a data set; returns why it failed or differs, or undefined when every output matches. */
export async function runDataSet(session: OrtSession, model: Model, set: DataSet): Promise<string | undefined> {
  const real = model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
  const feeds: Record<string, RuntimeTensor> = {};
  set.inputs.forEach((t, i) => {
    const name = real[i]?.name;
    if (name !== undefined) feeds[name] = toFeed(t);
  });
  let out: Record<string, RuntimeTensor>;
  try {
    out = await session.run(feeds);
  } catch (err: unknown) {
    return `run failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  for (const [i, want] of set.outputs.entries()) {
    const name = model.graph.outputs[i]?.name ?? '';
    const why = mismatch(out[name], want, name);
    if (why) return why;
  }
  return undefined;
}
