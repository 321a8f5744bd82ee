/**
 * The part of @edgefleet/shared a device agent needs: protocol, message schemas, signing and
 * the error catalogue, without the admin API bodies, plans and device profiles the server and
 * console use. The agent imports from here so a device does not compile and keep the schemas
 * it never parses (docs/design-notes.md, "Device agent": resident memory).
 */
export * from './topics.js';
export * from './limits.js';
export * from './errors.js';
export * from './messages/common.js';
export * from './messages/presence.js';
export * from './messages/commands.js';
export * from './messages/deploy.js';
export * from './messages/telemetry.js';
export * from './messages/telemetry-ack.js';
export * from './messages/enroll.js';
export * from './messages/registry.js';
export * from './messages/decode.js';
export * from './messages/chunk-frame.js';
export * from './runtime/spawn-worker.js';
export * from './signing.js';
export * from './enroll-seal.js';
export * from './chunks.js';
export * from './clock.js';
export * from './random.js';
export * from './objects.js';
export * from './config-issues.js';
export * from './budgets.js';
export { scoreGoldenOutputs, type GoldenOutput, type GoldenScore } from './golden.js';
