/**
 * The rollout repository (used by the rollout service, its actor and the chunk server):
 * rollouts, one row per device of a rollout, and the deploy reports seen.
 */
import { EdgefleetError } from '@edgefleet/shared';
import type { PreviousVariant, RolloutDevice, RolloutRecord } from '../deploy/rollout-model.js';
import type { RolloutOrigin } from './desired.js';

/** A writer's tenure of a once-only key: the token its ownership got when it took the key. */
export interface OwnershipFence {
  readonly key: string;
  readonly token: number;
}

/** The refusal of a fenced write whose tenure is over (both stores). */
export function fencedError(fence: OwnershipFence, current: number): EdgefleetError {
  return new EdgefleetError(
    'EF_ERR_OWNERSHIP_FENCED',
    `this replica's ownership of ${fence.key} (token ${fence.token}) ended; token ${current} owns it now, so the ` +
      'write was refused. Nothing to do: the owner carries the work on.',
    { key: fence.key, token: fence.token, current },
  );
}

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
  /**
   * Saves a rollout and its changed device rows, atomically. With a `fence` (the token of the
   * writer's tenure of a once-only key, issue 20), the save is refused with
   * EF_ERR_OWNERSHIP_FENCED when a later tenure of that key exists: a replica that lost the
   * rollouts while paused cannot overwrite what the new owner wrote. Checked in the same
   * transaction, holding the fence row, so a take-over waits for a save already under way.
   */
  save(rollout: RolloutRecord, devices: readonly RolloutDevice[], fence?: OwnershipFence): Promise<void>;
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
