/**
 * The rollout repository (used by the rollout service, its actor and the chunk server):
 * rollouts, one row per device of a rollout, and the deploy reports seen.
 */
import type { PreviousVariant, RolloutDevice, RolloutRecord } from '../deploy/rollout-model.js';
import type { RolloutOrigin } from './desired.js';

/** Where a deployment id points: the device and the artifact it may fetch. */
export interface DeploymentTarget {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly sha256: string;
  readonly purpose: 'rollout' | 'rollback';
}

/** One rollout a device took part in, with its row there (a device's model history). */
export interface DeviceDeploymentRow {
  readonly rollout: RolloutRecord;
  readonly device: RolloutDevice;
}

export interface RolloutFilter {
  /** true: in progress or rolling back; false: finished. */
  readonly active?: boolean;
  readonly deviceClass?: string;
}

export interface RolloutRepository {
  /**
   * Writes a new rollout, its device rows and why it exists (read back by
   * `DesiredStateRepository.origin`) in one transaction: a crash never leaves a rollout without its origin.
   */
  insert(rollout: RolloutRecord, devices: readonly RolloutDevice[], origin?: RolloutOrigin): Promise<void>;
  get(id: string): Promise<RolloutRecord | null>;
  /** Rollouts, oldest first. */
  list(filter?: RolloutFilter): Promise<RolloutRecord[]>;
  /** Device rows of a rollout, by wave then device id. */
  devicesOf(rolloutId: string): Promise<RolloutDevice[]>;
  /** Saves a rollout and its changed device rows, atomically. */
  save(rollout: RolloutRecord, devices: readonly RolloutDevice[]): Promise<void>;
  /** Every rollout the device took part in, newest first (its model history). */
  historyOf(deviceId: string): Promise<DeviceDeploymentRow[]>;
  /** The device row owning a deployment id (the new variant's or its rollback's). */
  findByDeployment(deploymentId: string): Promise<RolloutDevice | null>;
  /** What a deployment id lets a device fetch; null for an unknown id. */
  deploymentTarget(deploymentId: string): Promise<DeploymentTarget | null>;
  /** The variant a device most recently finished installing through a rollout (or rollback). */
  lastInstalled(deviceId: string): Promise<PreviousVariant | null>;
  /** Records a report once per (deployment, state); false when it was seen before. */
  recordReport(
    deploymentId: string,
    state: string,
    deviceId: string,
    receivedAt: number,
    report: unknown,
  ): Promise<boolean>;
}
