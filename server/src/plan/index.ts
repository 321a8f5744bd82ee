/** The planner: device classes, the model store, cached variants, plans, and their rendering. */
export * from './candidates.js';
export * from './classes.js';
export * from './models.js';
export * from './predict.js';
export * from './select.js';
export * from './assemble.js';
export * from './variants.js';
export * from './planner.js';
export { BUILTIN_CLASS_PROFILES, parseBuiltinProfiles } from './profiles/builtin.js';
export * from './render.js';
