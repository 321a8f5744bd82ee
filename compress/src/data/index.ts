/** Data sources for evaluation, calibration and training (see README.md in this folder). */
export * from './tensor.js';
export * from './prng.js';
export * from './mnist.js';
export * from './random.js';
export * from './sample-dir.js';
export * from './source.js';
