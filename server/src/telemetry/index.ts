/** Telemetry on the server: ingestion, retention, series and budget status [EF-PROTO 8.5]. */
export {
  createTelemetryService,
  TELEMETRY_FILTERS,
  type SeriesRange,
  type TelemetryService,
  type TelemetryServiceOptions,
  type TelemetryServiceStats,
} from './telemetry-service.js';
export { buildTelemetryAcks } from './acks.js';
export {
  createTelemetryIngest,
  type IngestStats,
  type TelemetryIngest,
  type TelemetryIngestOptions,
} from './ingest.js';
export {
  budgetsFromClass,
  checkBudgets,
  classStatus,
  deviceStatus,
  figureOf,
  type BudgetCheck,
  type BudgetSource,
  type ClassBudgetStatus,
  type ClassBudgetSummary,
  type DeviceBudgetStatus,
  type StatusRule,
  type TelemetryBudgets,
} from './budget-status.js';
export type { BreachRow, DeviceTelemetryRow, GapRow, MinuteRollup, WindowRow } from '../store/telemetry.js';
