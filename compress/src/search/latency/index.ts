/**
 * The latency predictor: microbenchmarks measured on this host (microbench.ts, cached by
 * cache.ts), a cost model fitted to them (cost-model.ts, fit.ts) over the units onnxruntime runs
 * (units.ts), scaled per precision by a class's speed model and a telemetry correction.
 */
import type { Model, Node } from '../../ir/index.js';
import {
  predictDeviceMs,
  predictHostMs,
  type DeviceSpeed,
  type LatencyPrediction,
  type LatencyTable,
} from './cost-model.js';
import { costUnitsOf, type UnitPrecision } from './units.js';

export * from './cost-model.js';
export * from './units.js';
export { mape, relativeNnls } from './fit.js';
export { buildNet, netShapes, type NetLayer, type NetSpec } from './net.js';
export { describeNet, randomNet } from './random-nets.js';
export {
  hostFingerprint,
  measureLatencyTable,
  microbenchSuite,
  netInPrecision,
  randomBatch,
  timeInterleaved,
  type MicrobenchOptions,
  type TimedGraph,
} from './microbench.js';
export { loadOrMeasureLatencyTable, readCachedTable, type CachedTable } from './cache.js';

/** Predictions for whole models from one table. */
export interface LatencyPredictor {
  readonly table: LatencyTable;
  /** Host latency of one `run()` at `batch`; `precisionOf` prices named nodes in another precision. */
  host(model: Model, batch: number, precisionOf?: (node: Node) => UnitPrecision | undefined): LatencyPrediction;
  /** Device latency on a class (null when it cannot execute a precision the model uses). */
  device(
    model: Model,
    batch: number,
    speed: DeviceSpeed,
    precisionOf?: (node: Node) => UnitPrecision | undefined,
  ): number | null;
}

/** A predictor over a measured (or cached) table. */
export function createLatencyPredictor(table: LatencyTable): LatencyPredictor {
  const host: LatencyPredictor['host'] = (model, batch, precisionOf) =>
    predictHostMs(table, costUnitsOf(model, batch, precisionOf));
  const device: LatencyPredictor['device'] = (model, batch, speed, precisionOf) =>
    predictDeviceMs(host(model, batch, precisionOf), speed);
  return Object.freeze({ table, host, device });
}
