/**
 * The store, as the rest of the server sees it: one narrow repository per service, each in
 * its own module here, and the handle that opens and closes them. Only the composition roots
 * (server.ts, services.ts) hold the whole set; a service receives just the repositories it
 * uses. `sqlite/` implements them on better-sqlite3; a Postgres implementation passes the same
 * contract suite (test/contract/repositories.ts).
 */
import type { ArtifactRepository } from './artifacts.js';
import type { AuthRepository } from './auth.js';
import type { ClassRepository } from './classes.js';
import type { ControlRepository } from './control.js';
import type { DesiredStateRepository } from './desired.js';
import type { DeviceRepository } from './devices.js';
import type { ModelRepository } from './models.js';
import type { PlanRepository } from './plans.js';
import type { RolloutRepository } from './rollouts.js';
import type { TelemetryRepository } from './telemetry.js';
import type { VariantRepository } from './variants.js';

export interface Repositories {
  readonly devices: DeviceRepository;
  readonly auth: AuthRepository;
  readonly classes: ClassRepository;
  readonly models: ModelRepository;
  readonly variants: VariantRepository;
  readonly plans: PlanRepository;
  readonly artifacts: ArtifactRepository;
  readonly rollouts: RolloutRepository;
  readonly desired: DesiredStateRepository;
  readonly telemetry: TelemetryRepository;
  readonly control: ControlRepository;
}

/** An open store: its repositories and its lifecycle. */
export interface FleetStore {
  readonly repos: Repositories;
  /** Where the data lives, for logs (a file path, or a redacted URL). */
  readonly location: string;
  /** Highest applied schema migration. */
  schemaVersion(): Promise<number>;
  /** Makes everything durable and closes. Idempotent. */
  close(): Promise<void>;
}

export type { ArtifactRepository, ArtifactRow } from './artifacts.js';
export type { AdminTokenRow, AuthRepository, CredentialRow, EnrollOutcome, EnrollTokenRow } from './auth.js';
export type { ClassProfile, ClassRepository, ClassRow, DeleteClassOutcome } from './classes.js';
export type { ControlRepository, ControlStateRow, DecisionFilter, DecisionRow } from './control.js';
export type {
  ClassDesiredState,
  DesiredStateRepository,
  LastDeployment,
  LatestRollout,
  RolloutOrigin,
} from './desired.js';
export type { DeviceRecord, DeviceRepository, DeviceState, StateReason } from './devices.js';
export type { ModelRepository, ModelRow } from './models.js';
export type { PlanFilter, PlanRepository, PlanRow } from './plans.js';
export type {
  DeploymentTarget,
  DeviceDeploymentRow,
  OwnershipFence,
  RolloutFilter,
  RolloutRepository,
} from './rollouts.js';
export type {
  BatchItem,
  BatchOutcome,
  BreachFilter,
  BreachRow,
  DeviceTelemetryRow,
  GapRow,
  MinuteRollup,
  RefusedItem,
  SeqRestart,
  TelemetryRepository,
  TimeRange,
  WindowRow,
} from './telemetry.js';
export type { VariantRepository, VariantRow } from './variants.js';
