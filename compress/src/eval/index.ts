/** The evaluator: accuracy, fidelity, size, latency and memory of an ONNX model, as plain data. */
export * from './schema.js';
export * from './metrics.js';
export * from './size.js';
export * from './shapes.js';
export * from './memory.js';
export * from './run.js';
export * from './evaluate.js';
export * from './table.js';
