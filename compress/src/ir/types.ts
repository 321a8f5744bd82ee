/**
 * Plain data of the IR: tensors, value infos, attributes, nodes and the model around a graph.
 * The graph itself (with its indexes and mutation helpers) is the class in `graph.ts`.
 */
import type { DType, TensorDataMap } from './dtype.js';
import type { Graph } from './graph.js';
import type { AttributeProto, FunctionProto, TrainingInfoProto, TypeProto } from './proto.js';

/** A tensor with its data in a typed array (see `TensorDataMap` for each dtype's storage). */
export interface TensorOf<D extends DType> {
  name: string;
  dtype: D;
  /** Dimensions; every entry a non-negative safe integer. `[]` is a scalar. */
  dims: number[];
  data: TensorDataMap[D];
  docString: string;
}

/** A tensor of any dtype; narrow on `dtype` to get the typed `data`. */
export type Tensor = { [D in DType]: TensorOf<D> }[DType];

/** One dimension of a declared shape: a size, a symbolic name, or unknown. */
export type Dim = number | string | null;

/** The declared type of a value. Non-tensor types (sequence, map, optional, sparse) are kept as decoded. */
export type ValueType =
  | { kind: 'tensor'; elemType: DType | undefined; shape: Dim[] | undefined; denotation: string }
  | { kind: 'other'; proto: TypeProto };

/** A graph input, output or intermediate value with its declared type. */
export interface ValueInfo {
  name: string;
  type: ValueType | undefined;
  docString: string;
}

/** The payload of an attribute, by kind [ONNX:AttributeProto]. Integers are int64, so bigint. */
export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: bigint }
  | { kind: 'string'; value: Uint8Array }
  | { kind: 'tensor'; value: Tensor }
  | { kind: 'graph'; value: Graph }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: bigint[] }
  | { kind: 'strings'; value: Uint8Array[] }
  | { kind: 'tensors'; value: Tensor[] }
  | { kind: 'graphs'; value: Graph[] }
  /** Sparse tensors and type protos, kept exactly as decoded (no pass needs to look inside). */
  | { kind: 'opaque'; proto: AttributeProto };

/** A node attribute. `refAttrName` is only set inside function bodies. */
export type Attribute = AttributeValue & { name: string; refAttrName: string; docString: string };

/** What it takes to add a node; `name` defaults to a fresh unique name, `domain` to '' (ai.onnx). */
export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: readonly Attribute[];
  docString?: string;
}

/**
 * A node of a graph. Inputs and outputs are read-only here so that every rewiring goes
 * through the graph's methods, which keep the producer/consumer indexes right.
 * An empty input name is an omitted optional input.
 */
export interface Node {
  name: string;
  opType: string;
  domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  attributes: Attribute[];
  docString: string;
}

/** One `opset_import` entry; domain '' is the default ai.onnx domain. */
export interface OpsetImport {
  domain: string;
  version: number;
}

/** A model: the graph plus everything around it that must survive a round trip. */
export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: bigint;
  docString: string;
  metadataProps: Array<{ key: string; value: string }>;
  graph: Graph;
  /** Model-local functions, kept as decoded. */
  functions: FunctionProto[];
  /** Training info, kept as decoded. */
  trainingInfo: TrainingInfoProto[];
}
