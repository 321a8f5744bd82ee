/**
 * The ONNX IR: load (decode + verify), an indexed mutable graph, builders, verification and
 * deterministic writing. Import from here: `@edgefleet/compress/ir/index`.
 */
export * from './dtype.js';
export * from './types.js';
export { Graph, createGraph, type GraphInit } from './graph.js';
export { topoOrder, stableTopoOrder, freeNamesOf, readsOf, type TopoResult } from './topo.js';
export { loadModel, loadTensor, DEFAULT_LOAD_LIMITS, type LoadOptions } from './decode.js';
export { writeModel, sha256Hex } from './encode.js';
export {
  readModelBytes,
  readModelFile,
  writeModelFile,
  writeBytesAtomic,
  convertModelFile,
  type ConvertResult,
} from './io.js';
export {
  verifyGraph,
  verifyModel,
  checkTensor,
  unknownDomains,
  usedDomains,
  usedOpsetImports,
  canonicalDomain,
  KNOWN_DOMAINS,
  type VerifyResult,
} from './verify.js';
export { subgraphsOf, allGraphs, hasSubgraphs, type ScopedGraph } from './scopes.js';
export { elementCountOf } from './tensor-codec.js';
export * from './builders.js';
export { float32ToFloat16Bits, float16BitsToFloat32 } from './half.js';
