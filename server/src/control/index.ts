/** The closed loop: observe → decide → act over telemetry, plans and rollouts. */
export * from './model.js';
export * from './policy.js';
export * from './select.js';
export { decide, desiredHashOf } from './decide.js';
export { createObserver, currentVariantWindows, planView, type ObserveOptions, type Observer } from './observe.js';
export { createActor, type ActionOutcome, type ActOptions, type Actor, type ClassSearcher } from './act.js';
export { createControlLoop, type ControlLoop, type ControlLoopOptions, type ReconcileResult } from './loop.js';
export { listDecisions, type StoredDecision } from './decisions.js';
export {
  createServerControl,
  latestGolden,
  observeSearch,
  type ServerControl,
  type ServerControlOptions,
} from './server-control.js';
