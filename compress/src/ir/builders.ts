/**
 * Builders for IR pieces (tensors, attributes, value infos, models) and typed readers of
 * attributes, so passes and exporters never assemble the unions by hand.
 */
import { storageLengthOf, type DType, type TensorDataMap } from './dtype.js';
import { createGraph, Graph, type GraphInit } from './graph.js';
import type { Attribute, Dim, Model, Node, OpsetImport, Tensor, TensorOf, ValueInfo } from './types.js';
import { canonicalDomain } from './verify.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A tensor from typed data; throws (programmer error) when the data length does not match dims. */
export function makeTensor<D extends DType>(
  name: string,
  dtype: D,
  dims: readonly number[],
  data: TensorDataMap[D],
): TensorOf<D> {
  const elements = dims.reduce((a, b) => a * b, 1);
  const expected = dtype === 'string' ? elements : storageLengthOf(dtype as Exclude<DType, 'string'>, elements);
  if (data.length !== expected)
    throw new RangeError(
      `tensor ${name}: dims [${dims.join(', ')}] need ${expected} ${dtype} entries, got ${data.length}`,
    );
  return { name, dtype, dims: [...dims], data, docString: '' };
}

/** A float32 tensor from any numbers. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorOf<'float32'> {
  return makeTensor(name, 'float32', dims, Float32Array.from(values));
}

/** An int64 tensor from numbers or bigints. */
export function int64Tensor(
  name: string,
  dims: readonly number[],
  values: ArrayLike<number | bigint>,
): TensorOf<'int64'> {
  return makeTensor(name, 'int64', dims, BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
}

/** An int32 tensor (e.g. the shape tensors of pruning fixtures). */
export function int32Tensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorOf<'int32'> {
  return makeTensor(name, 'int32', dims, Int32Array.from(values));
}

/** A declared tensor value (graph input/output or value info); `shape` undefined means unknown rank. */
export function tensorValueInfo(name: string, elemType: DType, shape?: readonly Dim[]): ValueInfo {
  return {
    name,
    type: { kind: 'tensor', elemType, shape: shape ? [...shape] : undefined, denotation: '' },
    docString: '',
  };
}

const meta = (name: string): { name: string; refAttrName: string; docString: string } => ({
  name,
  refAttrName: '',
  docString: '',
});

/** Attribute builders, one per ONNX attribute kind. */
export const attr = {
  /** Rounded to float32 now, as it will be stored. */
  float: (name: string, value: number): Attribute => ({ ...meta(name), kind: 'float', value: Math.fround(value) }),
  int: (name: string, value: number | bigint): Attribute => ({ ...meta(name), kind: 'int', value: BigInt(value) }),
  string: (name: string, value: string): Attribute => ({ ...meta(name), kind: 'string', value: utf8.encode(value) }),
  tensor: (name: string, value: Tensor): Attribute => ({ ...meta(name), kind: 'tensor', value }),
  graph: (name: string, value: Graph): Attribute => ({ ...meta(name), kind: 'graph', value }),
  floats: (name: string, value: readonly number[]): Attribute => ({
    ...meta(name),
    kind: 'floats',
    value: value.map(Math.fround),
  }),
  ints: (name: string, value: ReadonlyArray<number | bigint>): Attribute => ({
    ...meta(name),
    kind: 'ints',
    value: value.map((v) => BigInt(v)),
  }),
  strings: (name: string, value: readonly string[]): Attribute => ({
    ...meta(name),
    kind: 'strings',
    value: value.map((s) => utf8.encode(s)),
  }),
  tensors: (name: string, value: readonly Tensor[]): Attribute => ({
    ...meta(name),
    kind: 'tensors',
    value: [...value],
  }),
  graphs: (name: string, value: readonly Graph[]): Attribute => ({ ...meta(name), kind: 'graphs', value: [...value] }),
};

/** The attribute called `name` on a node, if present. */
export function getAttr(node: Node, name: string): Attribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

function wrongKind(node: Node, a: Attribute, want: string): Error {
  return new TypeError(`attribute '${a.name}' of node '${node.name}' is ${a.kind}, not ${want}`);
}

/** An int attribute as a number (throws if it is not an int or not a safe integer). */
export function getAttrInt(node: Node, name: string, fallback?: number): number | undefined {
  const a = getAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'int') throw wrongKind(node, a, 'int');
  return safeInt(a.value, node, name);
}

/** A float attribute. */
export function getAttrFloat(node: Node, name: string, fallback?: number): number | undefined {
  const a = getAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'float') throw wrongKind(node, a, 'float');
  return a.value;
}

/** A string attribute decoded as UTF-8. */
export function getAttrString(node: Node, name: string, fallback?: string): string | undefined {
  const a = getAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'string') throw wrongKind(node, a, 'string');
  return fromUtf8.decode(a.value);
}

/** An ints attribute as numbers. */
export function getAttrInts(node: Node, name: string, fallback?: readonly number[]): number[] | undefined {
  const a = getAttr(node, name);
  if (!a) return fallback ? [...fallback] : undefined;
  if (a.kind !== 'ints') throw wrongKind(node, a, 'ints');
  return a.value.map((v) => safeInt(v, node, name));
}

/** A floats attribute. */
export function getAttrFloats(node: Node, name: string, fallback?: readonly number[]): number[] | undefined {
  const a = getAttr(node, name);
  if (!a) return fallback ? [...fallback] : undefined;
  if (a.kind !== 'floats') throw wrongKind(node, a, 'floats');
  return [...a.value];
}

/** A tensor attribute. */
export function getAttrTensor(node: Node, name: string): Tensor | undefined {
  const a = getAttr(node, name);
  if (!a) return undefined;
  if (a.kind !== 'tensor') throw wrongKind(node, a, 'tensor');
  return a.value;
}

/** Set (replace or append) an attribute on a node. */
export function setAttr(node: Node, a: Attribute): void {
  const i = node.attributes.findIndex((x) => x.name === a.name);
  if (i >= 0) node.attributes[i] = a;
  else node.attributes.push(a);
}

function safeInt(v: bigint, node: Node, name: string): number {
  if (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(
      `attribute '${name}' of node '${node.name}' (${v}) is outside the safe integer range; read it with getAttr`,
    );
  }
  return Number(v);
}

/**
 * The constant tensor behind a value, if it is one: an initializer of this graph (or an
 * enclosing one), or the output of a `Constant` node with a `value` attribute.
 */
export function constantTensorOf(graph: Graph, value: string): Tensor | undefined {
  for (let g: Graph | undefined = graph; g; g = g.parent) {
    const init = g.initializers.get(value);
    if (init) return init;
    const producer = g.producerOf(value);
    if (producer) {
      if (producer.opType !== 'Constant' || canonicalDomain(producer.domain) !== '') return undefined;
      return getAttrTensor(producer, 'value');
    }
  }
  return undefined;
}

/** Everything `createModel` needs; opsets map domain → version (e.g. `{ '': 13, 'com.microsoft': 1 }`). */
export interface ModelInit {
  graph: Graph | GraphInit;
  opsets: Readonly<Record<string, number>>;
  /** ONNX IR version. Default 8 (ONNX 1.10, the newest our protobuf schema covers). */
  irVersion?: number;
  /** Default 'edgefleet'. */
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

/** A model around a graph (or graph fields). Opset entries are written sorted by domain. */
export function createModel(init: ModelInit): Model {
  const graph = init.graph instanceof Graph ? init.graph : createGraph(init.graph);
  const opsetImports: OpsetImport[] = Object.keys(init.opsets)
    .sort()
    .map((domain) => ({ domain, version: init.opsets[domain] as number }));
  return {
    irVersion: init.irVersion ?? 8,
    opsetImports,
    producerName: init.producerName ?? 'edgefleet',
    producerVersion: init.producerVersion ?? '',
    domain: '',
    modelVersion: 0n,
    docString: init.docString ?? '',
    metadataProps: [],
    graph,
    functions: [],
    trainingInfo: [],
  };
}

/** The opset version a model imports for `domain` ('' = ai.onnx), if any. */
export function getOpsetVersion(model: Model, domain: string): number | undefined {
  const d = canonicalDomain(domain);
  return model.opsetImports.find((o) => canonicalDomain(o.domain) === d)?.version;
}

/** Import `domain` at `version` (appended if new, updated in place otherwise). */
export function setOpsetVersion(model: Model, domain: string, version: number): void {
  const d = canonicalDomain(domain);
  const entry = model.opsetImports.find((o) => canonicalDomain(o.domain) === d);
  if (entry) entry.version = version;
  else model.opsetImports.push({ domain: d, version });
}
