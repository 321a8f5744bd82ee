/**
 * Element types of ONNX tensors, by name, with their ONNX `TensorProto.DataType` codes and
 * in-memory representation. Names follow onnxruntime-node's tensor type names where one
 * exists (`float32`, `float16`, `int64`…), so IR tensors can be fed to the runtime as is.
 */

/**
 * Every element type the IR knows. Codes 17–23 postdate the ONNX 1.10
 * schema we decode with; they are plain enum numbers on the wire.
 */
export const DTYPE_CODES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
  float4e2m1: 23,
} as const;

export type DType = keyof typeof DTYPE_CODES;

const BY_CODE = new Map<number, DType>(Object.entries(DTYPE_CODES).map(([name, code]) => [code, name as DType]));

/** The dtype for an ONNX `DataType` code, or undefined for 0 (UNDEFINED) and codes we do not know. */
export function dtypeFromCode(code: number): DType | undefined {
  return BY_CODE.get(code);
}

/** The ONNX `DataType` code of a dtype. */
export function dtypeCode(dtype: DType): number {
  return DTYPE_CODES[dtype];
}

/**
 * In-memory element storage of each dtype:
 * - numbers in the natural typed array (float16 and bfloat16 as their raw 16-bit patterns in Uint16Array),
 * - int64/uint64 as BigInt64Array/BigUint64Array, bool as Uint8Array of 0/1,
 * - complex as interleaved (re, im) Float32Array/Float64Array,
 * - float8 variants one byte per element in Uint8Array,
 * - 4-bit types packed two per byte exactly as ONNX `raw_data` stores them (low nibble first),
 * - strings as their raw bytes (ONNX strings need not be UTF-8).
 */
export interface TensorDataMap {
  float32: Float32Array;
  uint8: Uint8Array;
  int8: Int8Array;
  uint16: Uint16Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  string: Uint8Array[];
  bool: Uint8Array;
  float16: Uint16Array;
  float64: Float64Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  complex64: Float32Array;
  complex128: Float64Array;
  bfloat16: Uint16Array;
  float8e4m3fn: Uint8Array;
  float8e4m3fnuz: Uint8Array;
  float8e5m2: Uint8Array;
  float8e5m2fnuz: Uint8Array;
  uint4: Uint8Array;
  int4: Uint8Array;
  float4e2m1: Uint8Array;
}

export type TensorData = TensorDataMap[DType];

/** A typed array of any numeric dtype (everything except `string`). */
export type NumericData = Exclude<TensorData, Uint8Array[]>;

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface DTypeLayout {
  /** Typed array constructor holding the elements. */
  readonly ctor: TypedArrayCtor;
  /** Typed-array entries per logical element (2 for complex). */
  readonly lanes: number;
  /** Logical elements per byte for sub-byte types (2 for 4-bit), else 0. */
  readonly perByte: number;
}

const LAYOUT: Record<Exclude<DType, 'string'>, DTypeLayout> = {
  float32: { ctor: Float32Array, lanes: 1, perByte: 0 },
  uint8: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  int8: { ctor: Int8Array, lanes: 1, perByte: 0 },
  uint16: { ctor: Uint16Array, lanes: 1, perByte: 0 },
  int16: { ctor: Int16Array, lanes: 1, perByte: 0 },
  int32: { ctor: Int32Array, lanes: 1, perByte: 0 },
  int64: { ctor: BigInt64Array, lanes: 1, perByte: 0 },
  bool: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  float16: { ctor: Uint16Array, lanes: 1, perByte: 0 },
  float64: { ctor: Float64Array, lanes: 1, perByte: 0 },
  uint32: { ctor: Uint32Array, lanes: 1, perByte: 0 },
  uint64: { ctor: BigUint64Array, lanes: 1, perByte: 0 },
  complex64: { ctor: Float32Array, lanes: 2, perByte: 0 },
  complex128: { ctor: Float64Array, lanes: 2, perByte: 0 },
  bfloat16: { ctor: Uint16Array, lanes: 1, perByte: 0 },
  float8e4m3fn: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  float8e4m3fnuz: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  float8e5m2: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  float8e5m2fnuz: { ctor: Uint8Array, lanes: 1, perByte: 0 },
  uint4: { ctor: Uint8Array, lanes: 1, perByte: 2 },
  int4: { ctor: Uint8Array, lanes: 1, perByte: 2 },
  float4e2m1: { ctor: Uint8Array, lanes: 1, perByte: 2 },
};

/** Layout of a numeric dtype (programmer error for `string`). */
export function layoutOf(dtype: Exclude<DType, 'string'>): DTypeLayout {
  return LAYOUT[dtype];
}

/** True for every dtype except `string`. */
export function isNumericDType(dtype: DType): dtype is Exclude<DType, 'string'> {
  return dtype !== 'string';
}

/** Bytes that `elements` logical elements of `dtype` occupy in ONNX `raw_data` (strings: 0, they have no raw form). */
export function byteLengthOf(dtype: DType, elements: number): number {
  if (dtype === 'string') return 0;
  const l = LAYOUT[dtype];
  if (l.perByte > 0) return Math.ceil(elements / l.perByte);
  return elements * l.lanes * l.ctor.BYTES_PER_ELEMENT;
}

/** Typed-array length that holds `elements` logical elements of a numeric dtype. */
export function storageLengthOf(dtype: Exclude<DType, 'string'>, elements: number): number {
  const l = LAYOUT[dtype];
  return l.perByte > 0 ? Math.ceil(elements / l.perByte) : elements * l.lanes;
}

/** A zero-filled typed array holding `elements` elements of `dtype`. */
export function allocData<D extends Exclude<DType, 'string'>>(dtype: D, elements: number): TensorDataMap[D] {
  const l = LAYOUT[dtype];
  return new l.ctor(storageLengthOf(dtype, elements)) as TensorDataMap[D];
}

/**
 * Copy little-endian bytes into a fresh, aligned typed array of `dtype`. Copies because
 * decoded `raw_data` is a view into the file buffer at an arbitrary (unaligned) offset.
 * Assumes a little-endian host, as onnxruntime does.
 */
export function dataFromBytes(dtype: Exclude<DType, 'string'>, bytes: Uint8Array): NumericData {
  const l = LAYOUT[dtype];
  const width = l.ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % width !== 0)
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new l.ctor(copy.buffer, 0, bytes.byteLength / width);
}

/** The little-endian bytes of a numeric typed array (a view, no copy). */
export function bytesOfData(data: NumericData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
