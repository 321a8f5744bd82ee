export * from './faults.js';
export * from './inference-faults.js';
export * from './network-faults.js';
export * from './cpu-cgroup.js';
export * from './cpu-quota-faults.js';
