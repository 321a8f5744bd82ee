/** @edgefleet/shared: protocol, schemas and error catalogue shared by server, agent and simulators. No I/O. */
export * from './topics.js';
export * from './limits.js';
export * from './errors.js';
export * from './messages/common.js';
export * from './messages/presence.js';
export * from './messages/commands.js';
export * from './messages/deploy.js';
export * from './messages/telemetry.js';
export * from './messages/enroll.js';
export * from './messages/registry.js';
export * from './messages/decode.js';
export * from './runtime/spawn-worker.js';
export * from './signing.js';
export * from './chunks.js';
export * from './budgets.js';
export * from './api/index.js';
export * from './plans.js';
