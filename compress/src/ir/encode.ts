/**
 * IR model → ONNX bytes, deterministically: messages are built in a fixed order from the IR
 * (nodes in topological order, initializers and value infos in insertion order, attributes in
 * node order), tensors always as raw_data, empty strings omitted, and protobufjs encodes
 * fields in field-number order. Same model → same bytes → same sha256.
 */
import { createHash } from 'node:crypto';
import { dtypeCode } from './dtype.js';
import type { Graph } from './graph.js';
import {
  ATTRIBUTE_TYPE,
  encodeModelProto,
  int64ToProto,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto.js';
import { tensorToProto } from './tensor-codec.js';
import { stableTopoOrder } from './topo.js';
import { usedOpsetImports } from './verify.js';
import type { Attribute, Dim, Model, Node, ValueInfo } from './types.js';

/** Encode a model to ONNX bytes. */
export function writeModel(model: Model): Uint8Array {
  return encodeModelProto(modelToProto(model));
}

/** sha256 (hex) of bytes, the content address of a model. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function modelToProto(m: Model): ModelProto {
  const out: ModelProto = {
    irVersion: int64ToProto(BigInt(m.irVersion)),
    // Only the domains nodes use (plus ai.onnx): files from onnxruntime's optimizer declare unused ones.
    opsetImport: usedOpsetImports(m).map((o) =>
      o.domain === ''
        ? { version: int64ToProto(BigInt(o.version)) }
        : { domain: o.domain, version: int64ToProto(BigInt(o.version)) },
    ),
    graph: graphToProto(m.graph),
  };
  if (m.producerName !== '') out.producerName = m.producerName;
  if (m.producerVersion !== '') out.producerVersion = m.producerVersion;
  if (m.domain !== '') out.domain = m.domain;
  if (m.modelVersion !== 0n) out.modelVersion = int64ToProto(m.modelVersion);
  if (m.docString !== '') out.docString = m.docString;
  if (m.metadataProps.length > 0) out.metadataProps = m.metadataProps.map((e) => ({ key: e.key, value: e.value }));
  if (m.trainingInfo.length > 0) out.trainingInfo = m.trainingInfo;
  if (m.functions.length > 0) out.functions = m.functions;
  return out;
}

function graphToProto(g: Graph): GraphProto {
  const out: GraphProto = {
    node: stableTopoOrder(g).map(nodeToProto),
    initializer: [...g.initializers.values()].map(tensorToProto),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: [...g.valueInfo.values()].map(valueInfoToProto),
  };
  if (g.name !== '') out.name = g.name;
  if (g.docString !== '') out.docString = g.docString;
  if (g.sparseInitializers.length > 0) out.sparseInitializer = g.sparseInitializers;
  if (g.quantizationAnnotation.length > 0) out.quantizationAnnotation = g.quantizationAnnotation;
  return out;
}

function nodeToProto(n: Node): NodeProto {
  const out: NodeProto = {
    input: [...n.inputs],
    output: [...n.outputs],
    opType: n.opType,
    attribute: n.attributes.map(attributeToProto),
  };
  if (n.name !== '') out.name = n.name;
  if (n.domain !== '') out.domain = n.domain;
  if (n.docString !== '') out.docString = n.docString;
  return out;
}

function attributeToProto(a: Attribute): AttributeProto {
  if (a.kind === 'opaque') return a.proto;
  const out: AttributeProto = { name: a.name };
  if (a.refAttrName !== '') out.refAttrName = a.refAttrName;
  if (a.docString !== '') out.docString = a.docString;
  switch (a.kind) {
    case 'float':
      return { ...out, type: ATTRIBUTE_TYPE.FLOAT, f: a.value };
    case 'int':
      return { ...out, type: ATTRIBUTE_TYPE.INT, i: int64ToProto(a.value) };
    case 'string':
      return { ...out, type: ATTRIBUTE_TYPE.STRING, s: a.value };
    case 'tensor':
      return { ...out, type: ATTRIBUTE_TYPE.TENSOR, t: tensorToProto(a.value) };
    case 'graph':
      return { ...out, type: ATTRIBUTE_TYPE.GRAPH, g: graphToProto(a.value) };
    case 'floats':
      return { ...out, type: ATTRIBUTE_TYPE.FLOATS, floats: a.value };
    case 'ints':
      return { ...out, type: ATTRIBUTE_TYPE.INTS, ints: a.value.map(int64ToProto) };
    case 'strings':
      return { ...out, type: ATTRIBUTE_TYPE.STRINGS, strings: a.value };
    case 'tensors':
      return { ...out, type: ATTRIBUTE_TYPE.TENSORS, tensors: a.value.map(tensorToProto) };
    case 'graphs':
      return { ...out, type: ATTRIBUTE_TYPE.GRAPHS, graphs: a.value.map(graphToProto) };
  }
}

function valueInfoToProto(v: ValueInfo): ValueInfoProto {
  const out: ValueInfoProto = { name: v.name };
  if (v.type) out.type = v.type.kind === 'other' ? v.type.proto : tensorTypeToProto(v.type);
  if (v.docString !== '') out.docString = v.docString;
  return out;
}

function tensorTypeToProto(t: Extract<ValueInfo['type'], { kind: 'tensor' }>): TypeProto {
  const tensorType: NonNullable<TypeProto['tensorType']> = {};
  if (t.elemType !== undefined) tensorType.elemType = dtypeCode(t.elemType);
  if (t.shape) tensorType.shape = { dim: t.shape.map(dimToProto) };
  const out: TypeProto = { tensorType };
  if (t.denotation !== '') out.denotation = t.denotation;
  return out;
}

function dimToProto(d: Dim): { dimValue?: ReturnType<typeof int64ToProto>; dimParam?: string } {
  if (typeof d === 'number') return { dimValue: int64ToProto(BigInt(d)) };
  if (typeof d === 'string') return { dimParam: d };
  return {};
}
