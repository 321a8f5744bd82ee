export * from './faults.js';
export * from './inference-faults.js';
export * from './network-faults.js';
