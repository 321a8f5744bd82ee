/**
 * TensorProto ⇄ IR tensor. Reading accepts `raw_data` and every typed field the ONNX spec
 * allows for each element type [ONNX:TensorProto]; writing always uses `raw_data` (except for
 * strings), which is canonical, compact and what onnxruntime prefers. Element counts are
 * checked against the byte budget BEFORE anything is allocated.
 */
import { EdgefleetError } from '@edgefleet/shared';
import {
  byteLengthOf,
  bytesOfData,
  dataFromBytes,
  dtypeCode,
  dtypeFromCode,
  isNumericDType,
  type DType,
  type NumericData,
} from './dtype.js';
import { DATA_LOCATION_EXTERNAL, int64FromProto, int64ToProto, type TensorProto } from './proto.js';
import type { Tensor } from './types.js';

/** Bytes of tensor data a load may still allocate; shared by every tensor of one model. */
export interface TensorBudget {
  remaining: number;
  readonly limit: number;
}

/** Read one TensorProto. `where` names its place in the model for error messages. */
export function tensorFromProto(p: TensorProto, where: string, budget: TensorBudget): Tensor {
  const name = p.name ?? '';
  const label = `tensor '${name}' (${where})`;
  const code = p.dataType ?? 0;
  const dtype = dtypeFromCode(code);
  if (dtype === undefined) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `${label} has element type code ${code}, which edgefleet does not know (known: 1–23)`,
      { tensor: name, dataType: code },
    );
  }
  if (p.dataLocation === DATA_LOCATION_EXTERNAL || (p.externalData?.length ?? 0) > 0) {
    const location = p.externalData?.find((e) => e.key === 'location')?.value ?? '?';
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `${label} keeps its data in an external file ('${location}'); edgefleet only reads self-contained models — ` +
        `re-save the model with all tensors embedded (e.g. onnx.save(model, path, save_as_external_data=False))`,
      { tensor: name, location },
    );
  }
  if (p.segment) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `${label} is a segment of a split tensor, which edgefleet does not support`,
      { tensor: name },
    );
  }
  const dims = readDims(p, label);
  const elements = checkedElementCount(dims, dtype, label, budget);
  const data = readData(p, dtype, elements, label);
  const bytes =
    dtype === 'string'
      ? (data as Uint8Array[]).reduce((s, b) => s + b.byteLength, 0)
      : (data as NumericData).byteLength;
  budget.remaining -= bytes;
  return { name, dtype, dims, data, docString: p.docString ?? '' } as Tensor;
}

function readDims(p: TensorProto, label: string): number[] {
  return (p.dims ?? []).map((raw, axis) => {
    const d = int64FromProto(raw);
    if (d < 0n)
      throw new EdgefleetError(
        'EF_ERR_MODEL_INVALID',
        `${label} declares dimension ${axis} as ${d}; dimensions must be ≥ 0`,
        { axis, dim: d.toString() },
      );
    if (d > BigInt(Number.MAX_SAFE_INTEGER)) throw tooLarge(label, `dimension ${axis} is ${d}`);
    return Number(d);
  });
}

/** Element count of `dims`, refusing (before any allocation) what would exceed the budget. */
function checkedElementCount(dims: readonly number[], dtype: DType, label: string, budget: TensorBudget): number {
  let count = 1;
  for (const d of dims) {
    count *= d;
    // Strings have no fixed width; count them as one byte each so absurd counts still stop here.
    const bytes = dtype === 'string' ? count : byteLengthOf(dtype, count);
    if (bytes > budget.remaining) {
      throw tooLarge(
        label,
        `its declared shape [${dims.join(', ')}] needs at least ${bytes} bytes of ${dtype} data, over the ` +
          `${budget.remaining} bytes left of the ${budget.limit}-byte tensor budget`,
      );
    }
  }
  return count;
}

function tooLarge(label: string, why: string): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_MODEL_TOO_LARGE',
    `${label} is too large: ${why}; raise the tensor budget only if you trust this file`,
    { tensor: label },
  );
}

function hasRaw(p: TensorProto): p is TensorProto & { rawData: Uint8Array } {
  return Object.hasOwn(p, 'rawData') && p.rawData != null;
}

function readData(p: TensorProto, dtype: DType, elements: number, label: string): Tensor['data'] {
  if (hasRaw(p)) {
    if (dtype === 'string')
      throw new EdgefleetError(
        'EF_ERR_MODEL_INVALID',
        `${label} is a string tensor with raw_data; strings must use string_data`,
      );
    try {
      return dataFromBytes(dtype, p.rawData);
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_MODEL_INVALID',
        `${label} has ${p.rawData.byteLength} bytes of raw_data, not a whole number of ${dtype} elements`,
        {},
        { cause: err },
      );
    }
  }
  const fields = presentTypedFields(p);
  if (fields.length > 1)
    throw new EdgefleetError(
      'EF_ERR_MODEL_INVALID',
      `${label} has data in several fields (${fields.join(', ')}); exactly one is allowed`,
    );
  const field = fields[0];
  if (field === undefined) return emptyData(dtype);
  const expected = TYPED_FIELD[dtype];
  if (field !== expected) {
    throw new EdgefleetError(
      expected === undefined ? 'EF_ERR_MODEL_UNSUPPORTED' : 'EF_ERR_MODEL_INVALID',
      expected === undefined
        ? `${label} of type ${dtype} stores its data in ${field}; edgefleet reads ${dtype} only from raw_data`
        : `${label} of type ${dtype} stores its data in ${field}, but that type belongs in ${expected}`,
    );
  }
  return fromTypedField(p, dtype, elements);
}

type TypedField = 'float_data' | 'int32_data' | 'int64_data' | 'uint64_data' | 'double_data' | 'string_data';

/** Which typed field holds each element type when raw_data is not used [ONNX:TensorProto]. */
const TYPED_FIELD: Partial<Record<DType, TypedField>> = {
  float32: 'float_data',
  complex64: 'float_data',
  int32: 'int32_data',
  int16: 'int32_data',
  int8: 'int32_data',
  uint16: 'int32_data',
  uint8: 'int32_data',
  bool: 'int32_data',
  float16: 'int32_data',
  bfloat16: 'int32_data',
  float8e4m3fn: 'int32_data',
  float8e4m3fnuz: 'int32_data',
  float8e5m2: 'int32_data',
  float8e5m2fnuz: 'int32_data',
  int64: 'int64_data',
  uint32: 'uint64_data',
  uint64: 'uint64_data',
  float64: 'double_data',
  complex128: 'double_data',
  string: 'string_data',
};

function presentTypedFields(p: TensorProto): TypedField[] {
  const out: TypedField[] = [];
  if (p.floatData?.length) out.push('float_data');
  if (p.int32Data?.length) out.push('int32_data');
  if (p.int64Data?.length) out.push('int64_data');
  if (p.uint64Data?.length) out.push('uint64_data');
  if (p.doubleData?.length) out.push('double_data');
  if (p.stringData?.length) out.push('string_data');
  return out;
}

function emptyData(dtype: DType): Tensor['data'] {
  return dtype === 'string' ? [] : dataFromBytes(dtype, new Uint8Array(0));
}

function fromTypedField(p: TensorProto, dtype: DType, _elements: number): Tensor['data'] {
  const i32 = p.int32Data ?? [];
  switch (dtype) {
    case 'float32':
    case 'complex64':
      return Float32Array.from(p.floatData ?? []);
    case 'float64':
    case 'complex128':
      return Float64Array.from(p.doubleData ?? []);
    case 'int32':
      return Int32Array.from(i32);
    case 'int16':
      return Int16Array.from(i32);
    case 'int8':
      return Int8Array.from(i32);
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return Uint16Array.from(i32);
    case 'uint8':
    case 'float8e4m3fn':
    case 'float8e4m3fnuz':
    case 'float8e5m2':
    case 'float8e5m2fnuz':
      return Uint8Array.from(i32);
    case 'bool':
      return Uint8Array.from(i32, (v) => (v !== 0 ? 1 : 0));
    case 'int64':
      return BigInt64Array.from(p.int64Data ?? [], (v) => int64FromProto(v));
    case 'uint32':
      return Uint32Array.from(p.uint64Data ?? [], (v) => Number(BigInt.asUintN(32, int64FromProto(v))));
    case 'uint64':
      return BigUint64Array.from(p.uint64Data ?? [], (v) => BigInt.asUintN(64, int64FromProto(v)));
    case 'string':
      return (p.stringData ?? []).map((s) => Uint8Array.from(s));
    default:
      throw new Error(`unreachable: ${dtype} has no typed field`);
  }
}

/** Write an IR tensor; numeric data always goes to raw_data (little-endian). */
export function tensorToProto(t: Tensor): TensorProto {
  const out: TensorProto = { dims: t.dims.map((d) => int64ToProto(BigInt(d))), dataType: dtypeCode(t.dtype) };
  if (t.dtype === 'string') out.stringData = t.data;
  if (t.name !== '') out.name = t.name;
  if (t.docString !== '') out.docString = t.docString;
  if (isNumericDType(t.dtype)) out.rawData = bytesOfData(t.data as NumericData);
  return out;
}

/** Logical element count of a tensor's declared dims. */
export function elementCountOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
