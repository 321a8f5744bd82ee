/**
 * The one module that touches the ONNX protobuf bindings. We use the maintained `onnx-proto`
 * package (protobufjs 6 static code generated from the ONNX 1.10.2 schema) rather than a
 * hand-written codec. What that schema implies, said once here:
 * - Fields added after ONNX 1.10 (e.g. `metadata_props` on nodes/graphs, `NodeProto.overload`,
 *   `FunctionProto.value_info`) are unknown to the bindings: protobufjs static decoders skip
 *   unknown fields, so such fields are dropped when a model is rewritten. Nothing the
 *   runtime executes lives in them.
 * - `TensorProto.DataType` is decoded as a plain int32, so newer element types (FLOAT8*,
 *   UINT4/INT4 = 21/22, FLOAT4E2M1 = 23) survive as numbers; the IR names them itself.
 * - int64 fields decode to `Long` objects (or numbers); the IR converts them to bigint/number
 *   through the helpers below and nowhere else.
 */
import { createRequire } from 'node:module';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { EdgefleetError } from '@edgefleet/shared';

const { onnx: proto } = onnxProto;

/** The protobufjs runtime onnx-proto itself loads (resolved from its location, so it is the same instance). */
const protobufRuntime = createRequire(createRequire(import.meta.url).resolve('onnx-proto'))('protobufjs/minimal') as {
  Reader: { create(bytes: Uint8Array): object };
};

export type ModelProto = onnx.IModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;
export type TensorProto = onnx.ITensorProto;
export type AttributeProto = onnx.IAttributeProto;
export type ValueInfoProto = onnx.IValueInfoProto;
export type TypeProto = onnx.ITypeProto;
export type TensorShapeDimProto = onnx.TensorShapeProto.IDimension;
export type OperatorSetIdProto = onnx.IOperatorSetIdProto;
export type StringStringEntryProto = onnx.IStringStringEntryProto;
export type SparseTensorProto = onnx.ISparseTensorProto;
export type FunctionProto = onnx.IFunctionProto;
export type TrainingInfoProto = onnx.ITrainingInfoProto;
export type TensorAnnotationProto = onnx.ITensorAnnotation;

/** An int64 as the bindings carry it. */
export type ProtoInt64 = NonNullable<onnx.ITensorProto['dims']>[number];

/** `AttributeProto.AttributeType` codes [ONNX:AttributeProto]. */
export const ATTRIBUTE_TYPE = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** `TensorProto.DataLocation.EXTERNAL`. */
export const DATA_LOCATION_EXTERNAL = 1;

/**
 * Estimated JS heap bytes per decoded scalar of a typed (non-raw) field: int64 values become
 * `Long` objects, other numbers array slots. Packed varints take as little as one byte on the
 * wire, so without this budget a few MB of `int64_data` could grow the heap by gigabytes.
 */
const HEAP_COST: Readonly<Record<string, number>> = {
  int64: 64,
  uint64: 64,
  sint64: 64,
  fixed64: 64,
  sfixed64: 64,
  int32: 16,
  sint32: 16,
  fixed32: 16,
  sfixed32: 16,
  float: 16,
  double: 16,
};

/** Default for `maxDecodeHeapBytes`: 512 MiB. */
export const DEFAULT_MAX_DECODE_HEAP_BYTES = 512 * 1024 * 1024;

/** A protobufjs reader whose scalar reads are charged against a heap budget. */
function budgetedReader(bytes: Uint8Array, maxHeapBytes: number): object {
  const reader = protobufRuntime.Reader.create(bytes) as Record<string, unknown>;
  let spent = 0;
  for (const [method, cost] of Object.entries(HEAP_COST)) {
    const read = reader[method] as (this: unknown) => unknown;
    reader[method] = function charged(this: unknown): unknown {
      spent += cost;
      if (spent > maxHeapBytes) {
        throw new EdgefleetError(
          'EF_ERR_MODEL_TOO_LARGE',
          `the model stores more numbers in typed protobuf fields (float_data, int64_data, …) than the ` +
            `${maxHeapBytes}-byte decode budget allows; re-save it with tensors in raw_data, or raise ` +
            `maxDecodeHeapBytes if you trust the file`,
          { limit: maxHeapBytes },
        );
      }
      return read.call(this);
    };
  }
  return reader;
}

/**
 * Decode ONNX model bytes. Any decoder failure on corrupt input (index out of range,
 * invalid wire type, stack overflow on absurd nesting) becomes EF_ERR_MODEL_PARSE; typed
 * fields beyond the heap budget become EF_ERR_MODEL_TOO_LARGE.
 */
export function decodeModelProto(
  bytes: Uint8Array,
  maxDecodeHeapBytes: number = DEFAULT_MAX_DECODE_HEAP_BYTES,
): onnx.ModelProto {
  try {
    return proto.ModelProto.decode(
      budgetedReader(bytes, maxDecodeHeapBytes) as Parameters<typeof proto.ModelProto.decode>[0],
    );
  } catch (err: unknown) {
    if (err instanceof EdgefleetError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new EdgefleetError(
      'EF_ERR_MODEL_PARSE',
      `not a readable ONNX protobuf (${why}); check that the file is a complete .onnx model and was not truncated or ` +
        `altered in transfer`,
      { reason: why },
      { cause: err },
    );
  }
}

/** Decode one serialized TensorProto (the `.pb` files of ONNX's test data); failures become EF_ERR_MODEL_PARSE. */
export function decodeTensorProto(bytes: Uint8Array): onnx.TensorProto {
  try {
    return proto.TensorProto.decode(bytes);
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    throw new EdgefleetError(
      'EF_ERR_MODEL_PARSE',
      `not a readable ONNX TensorProto (${why})`,
      { reason: why },
      { cause: err },
    );
  }
}

/**
 * Encode a model message. protobufjs writes fields in field-number order and repeated fields
 * in array order, so the same message gives the same bytes.
 */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return proto.ModelProto.encode(model).finish();
}

/** A decoded int64 as bigint (two's complement, so negative values survive). */
export function int64FromProto(v: ProtoInt64 | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return BigInt.asIntN(64, bits);
}

/** A decoded int64 as a number when it is a safe integer, else undefined. */
export function safeNumberFromProto(v: ProtoInt64 | null | undefined): number | undefined {
  const b = int64FromProto(v);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : undefined;
}

/**
 * A bigint in the form the protobufjs writer takes for int64 fields. protobufjs accepts any
 * `{low, high}` object (it only reads those two fields), so no direct `long` dependency is needed.
 */
export function int64ToProto(v: bigint): ProtoInt64 {
  if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  const u = BigInt.asUintN(64, v);
  const longLike = { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: false };
  return longLike as unknown as ProtoInt64;
}
