/**
 * ONNX bytes → IR model. Every failure on untrusted input is an EdgefleetError:
 * EF_ERR_MODEL_PARSE (not decodable), _INVALID (decodable but inconsistent), _UNSUPPORTED
 * (valid ONNX we deliberately do not handle) or _TOO_LARGE (over a configured limit).
 */
import { EdgefleetError } from '@edgefleet/shared';
import { dtypeFromCode } from './dtype.js';
import { createGraph, type Graph } from './graph.js';
import {
  ATTRIBUTE_TYPE,
  DEFAULT_MAX_DECODE_HEAP_BYTES,
  decodeModelProto,
  decodeTensorProto,
  int64FromProto,
  safeNumberFromProto,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto.js';
import { tensorFromProto, type TensorBudget } from './tensor-codec.js';
import type { Attribute, Dim, Model, NodeSpec, Tensor, ValueInfo, ValueType } from './types.js';
import { unknownDomains, usedDomains, verifyModel } from './verify.js';

/** Limits and checks applied while loading a model. */
export interface LoadOptions {
  /** Largest accepted file, in bytes. Default 1 GiB (protobuf itself stops at 2 GiB). */
  maxModelBytes?: number;
  /** Total bytes of tensor data (initializers and tensor attributes) a load may allocate. Default 2 GiB. */
  maxTensorBytes?: number;
  /**
   * Estimated heap the protobuf decoder may spend on numbers in
   * typed fields (float_data, int64_data, …). Default 512 MiB.
   */
  maxDecodeHeapBytes?: number;
  /** Deepest nesting of subgraphs (If/Loop/Scan bodies). Default 32. */
  maxSubgraphDepth?: number;
  /** Run `verifyModel` and throw EF_ERR_MODEL_INVALID on problems. Default true. */
  verify?: boolean;
}

/** Default limits; see `LoadOptions`. */
export const DEFAULT_LOAD_LIMITS = Object.freeze({
  maxModelBytes: 1024 * 1024 * 1024,
  maxTensorBytes: 2 * 1024 * 1024 * 1024,
  maxSubgraphDepth: 32,
  maxDecodeHeapBytes: DEFAULT_MAX_DECODE_HEAP_BYTES,
});

interface DecodeContext {
  budget: TensorBudget;
  maxDepth: number;
}

/** Decode and (by default) verify ONNX model bytes. */
export function loadModel(bytes: Uint8Array, options: LoadOptions = {}): Model {
  const maxModelBytes = options.maxModelBytes ?? DEFAULT_LOAD_LIMITS.maxModelBytes;
  if (bytes.byteLength > maxModelBytes) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_TOO_LARGE',
      `the model is ${bytes.byteLength} bytes, over the ${maxModelBytes}-byte limit`,
      { bytes: bytes.byteLength, limit: maxModelBytes },
    );
  }
  if (bytes.byteLength === 0)
    throw new EdgefleetError('EF_ERR_MODEL_PARSE', 'the model file is empty; point at a .onnx file');
  const proto = decodeModelProto(bytes, options.maxDecodeHeapBytes ?? DEFAULT_LOAD_LIMITS.maxDecodeHeapBytes);
  const limit = options.maxTensorBytes ?? DEFAULT_LOAD_LIMITS.maxTensorBytes;
  const model = modelFromProto(proto, {
    budget: { remaining: limit, limit },
    maxDepth: options.maxSubgraphDepth ?? DEFAULT_LOAD_LIMITS.maxSubgraphDepth,
  });
  // Domains are judged by the nodes that use them: a declared but unused import is dropped on write.
  const unknown = unknownDomains(model);
  if (unknown.length > 0) {
    const used = usedDomains(model);
    const where = unknown.map((d) => `'${d}' (used by ${used.get(d) ?? 'a node'})`).join(', ');
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `the model's nodes use operator domain(s) ${where}, which onnxruntime does not implement; only standard ONNX, ` +
        `ai.onnx.ml and com.microsoft operators can be compressed and deployed`,
      { domains: unknown, nodes: unknown.map((d) => used.get(d) ?? '') },
    );
  }
  if (options.verify ?? true) {
    const result = verifyModel(model);
    if (!result.ok) {
      const shown = result.problems.slice(0, 10).join('; ');
      const more = result.problems.length > 10 ? ` (and ${result.problems.length - 10} more)` : '';
      throw new EdgefleetError('EF_ERR_MODEL_INVALID', `the model failed verification: ${shown}${more}`, {
        problems: result.problems,
      });
    }
  }
  return model;
}

/**
 * Read one serialized tensor (a TensorProto `.pb` file, as ONNX's backend test data stores inputs
 * and expected outputs) into an IR tensor, within `maxTensorBytes` (default 2 GiB).
 */
export function loadTensor(bytes: Uint8Array, maxTensorBytes: number = DEFAULT_LOAD_LIMITS.maxTensorBytes): Tensor {
  return tensorFromProto(decodeTensorProto(bytes), 'tensor file', { remaining: maxTensorBytes, limit: maxTensorBytes });
}

function modelFromProto(p: ModelProto, ctx: DecodeContext): Model {
  if (!p.graph)
    throw new EdgefleetError('EF_ERR_MODEL_INVALID', 'the model has no graph; this is not an inference model');
  const irVersion = safeNumberFromProto(p.irVersion) ?? -1;
  if (irVersion < 1)
    throw new EdgefleetError(
      'EF_ERR_MODEL_INVALID',
      `the model's ir_version ${int64FromProto(p.irVersion)} is not valid (expected ≥ 1)`,
    );
  return {
    irVersion,
    opsetImports: (p.opsetImport ?? []).map((o) => ({
      domain: o.domain ?? '',
      version: opsetVersion(o.version, o.domain ?? ''),
    })),
    producerName: p.producerName ?? '',
    producerVersion: p.producerVersion ?? '',
    domain: p.domain ?? '',
    modelVersion: int64FromProto(p.modelVersion),
    docString: p.docString ?? '',
    metadataProps: (p.metadataProps ?? []).map((e) => ({ key: e.key ?? '', value: e.value ?? '' })),
    graph: graphFromProto(p.graph, ctx, undefined, 0),
    functions: p.functions ?? [],
    trainingInfo: p.trainingInfo ?? [],
  };
}

function opsetVersion(raw: Parameters<typeof safeNumberFromProto>[0], domain: string): number {
  const v = safeNumberFromProto(raw);
  if (v === undefined || v < 1 || v > 10_000) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_INVALID',
      `opset import for domain '${domain || 'ai.onnx'}' has version ${int64FromProto(raw)}, which is not a valid ` +
        `opset version`,
    );
  }
  return v;
}

function graphFromProto(p: GraphProto, ctx: DecodeContext, parent: Graph | undefined, depth: number): Graph {
  if (depth > ctx.maxDepth) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `subgraphs are nested more than ${ctx.maxDepth} deep; edgefleet refuses such models`,
    );
  }
  const where = parent ? `subgraph '${p.name ?? ''}'` : 'initializer';
  const g = createGraph(
    {
      name: p.name ?? '',
      docString: p.docString ?? '',
      inputs: (p.input ?? []).map(valueInfoFromProto),
      outputs: (p.output ?? []).map(valueInfoFromProto),
      valueInfo: (p.valueInfo ?? []).map(valueInfoFromProto),
      initializers: (p.initializer ?? []).map((t) => tensorFromProto(t, where, ctx.budget)),
      sparseInitializers: p.sparseInitializer ?? [],
      quantizationAnnotation: p.quantizationAnnotation ?? [],
    },
    parent,
  );
  // Nodes are added after the graph exists so their subgraphs can point at it as their parent.
  for (const n of p.node ?? []) g.addNode(nodeFromProto(n, ctx, g, depth));
  return g;
}

function nodeFromProto(p: NodeProto, ctx: DecodeContext, owner: Graph, depth: number): NodeSpec {
  const name = p.name ?? '';
  return {
    name,
    opType: p.opType ?? '',
    domain: p.domain ?? '',
    inputs: p.input ?? [],
    outputs: p.output ?? [],
    attributes: (p.attribute ?? []).map((a) => attributeFromProto(a, ctx, owner, depth, name)),
    docString: p.docString ?? '',
  };
}

function attributeFromProto(
  p: AttributeProto,
  ctx: DecodeContext,
  owner: Graph,
  depth: number,
  nodeName: string,
): Attribute {
  const meta = { name: p.name ?? '', refAttrName: p.refAttrName ?? '', docString: p.docString ?? '' };
  const where = `attribute '${meta.name}' of node '${nodeName}'`;
  const sub = (g: GraphProto): Graph => graphFromProto(g, ctx, owner, depth + 1);
  switch (p.type ?? ATTRIBUTE_TYPE.UNDEFINED) {
    case ATTRIBUTE_TYPE.FLOAT:
      return { ...meta, kind: 'float', value: p.f ?? 0 };
    case ATTRIBUTE_TYPE.INT:
      return { ...meta, kind: 'int', value: int64FromProto(p.i) };
    case ATTRIBUTE_TYPE.STRING:
      return { ...meta, kind: 'string', value: Uint8Array.from(p.s ?? []) };
    case ATTRIBUTE_TYPE.TENSOR:
      return { ...meta, kind: 'tensor', value: tensorFromProto(p.t ?? {}, where, ctx.budget) };
    case ATTRIBUTE_TYPE.GRAPH:
      return { ...meta, kind: 'graph', value: sub(p.g ?? {}) };
    case ATTRIBUTE_TYPE.FLOATS:
      return { ...meta, kind: 'floats', value: [...(p.floats ?? [])] };
    case ATTRIBUTE_TYPE.INTS:
      return { ...meta, kind: 'ints', value: (p.ints ?? []).map((v) => int64FromProto(v)) };
    case ATTRIBUTE_TYPE.STRINGS:
      return { ...meta, kind: 'strings', value: (p.strings ?? []).map((s) => Uint8Array.from(s)) };
    case ATTRIBUTE_TYPE.TENSORS:
      return { ...meta, kind: 'tensors', value: (p.tensors ?? []).map((t) => tensorFromProto(t, where, ctx.budget)) };
    case ATTRIBUTE_TYPE.GRAPHS:
      return { ...meta, kind: 'graphs', value: (p.graphs ?? []).map(sub) };
    case ATTRIBUTE_TYPE.SPARSE_TENSOR:
    case ATTRIBUTE_TYPE.SPARSE_TENSORS:
    case ATTRIBUTE_TYPE.TYPE_PROTO:
    case ATTRIBUTE_TYPE.TYPE_PROTOS:
      return { ...meta, kind: 'opaque', proto: p };
    default:
      throw new EdgefleetError(
        'EF_ERR_MODEL_INVALID',
        `${where} has attribute type ${p.type ?? 0}, which is not a valid ONNX attribute type`,
        { node: nodeName, attribute: meta.name },
      );
  }
}

function valueInfoFromProto(p: ValueInfoProto): ValueInfo {
  return {
    name: p.name ?? '',
    type: p.type ? valueTypeFromProto(p.type, p.name ?? '') : undefined,
    docString: p.docString ?? '',
  };
}

function valueTypeFromProto(t: TypeProto, name: string): ValueType {
  if (!t.tensorType) return { kind: 'other', proto: t };
  const code = t.tensorType.elemType ?? 0;
  const elemType = dtypeFromCode(code);
  if (elemType === undefined && code !== 0) {
    throw new EdgefleetError(
      'EF_ERR_MODEL_UNSUPPORTED',
      `value '${name}' is declared with element type code ${code}, which edgefleet does not know`,
      { value: name, elemType: code },
    );
  }
  const shape = t.tensorType.shape ? (t.tensorType.shape.dim ?? []).map((d) => dimFromProto(d, name)) : undefined;
  return { kind: 'tensor', elemType, shape, denotation: t.denotation ?? '' };
}

function dimFromProto(
  d: { dimValue?: Parameters<typeof int64FromProto>[0]; dimParam?: string | null },
  name: string,
): Dim {
  if (Object.hasOwn(d, 'dimValue') && d.dimValue != null) {
    const v = safeNumberFromProto(d.dimValue);
    if (v === undefined)
      throw new EdgefleetError(
        'EF_ERR_MODEL_TOO_LARGE',
        `value '${name}' declares a dimension of ${int64FromProto(d.dimValue)}, beyond what edgefleet handles`,
      );
    return v;
  }
  if (Object.hasOwn(d, 'dimParam') && d.dimParam != null) return d.dimParam;
  return null;
}
