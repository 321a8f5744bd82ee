/** Admin HTTP API bodies and responses; the server's OpenAPI document is generated from these. */
export * from './common.js';
export * from './admin.js';
export * from './events.js';
export * from './classes.js';
export * from './models.js';
export * from './rollouts.js';
export * from './telemetry.js';
export * from './decisions.js';
export * from './golden.js';
export * from './searches.js';
export * from './jobs.js';
