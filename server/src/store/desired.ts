/**
 * The class desired state repository (used by the rollout service and the catch-up
 * reconciler, deploy/class-desired.ts): why each rollout exists, and which variant each class
 * should run. Written when a rollout starts and when a class-wide one completes.
 */

/** Why a rollout exists. */
export type RolloutOrigin =
  | { readonly kind: 'class' }
  /** Chosen devices of the class (a cohort of the control loop, or `deviceIds` of an operator). */
  | { readonly kind: 'devices' }
  /** Late or returning members brought to the class's desired state. */
  | { readonly kind: 'catch-up'; readonly sourceRolloutId: string; readonly reason: string };

export interface ClassDesiredState {
  readonly deviceClass: string;
  /** The completed class-wide rollout that set it. */
  readonly rolloutId: string;
  readonly variantId: string;
  readonly artifactSha: string;
  readonly setAt: number;
}

/** A device's latest deployment of one artifact, for the reconciler's retry rules. */
export interface LastDeployment {
  readonly rolloutId: string;
  readonly origin: RolloutOrigin['kind'];
  readonly state: string;
  readonly at: number;
}

/** A device's most recent rollout of any artifact. */
export interface LatestRollout {
  readonly rolloutId: string;
  readonly createdAt: number;
  readonly origin: RolloutOrigin['kind'];
}

export interface DesiredStateRepository {
  /** The origin of a rollout (written with it by `RolloutRepository.insert`); `class` for older rollouts. */
  origin(rolloutId: string): Promise<RolloutOrigin>;
  /** Sets (replaces) a class's desired state. */
  setDesired(row: ClassDesiredState): Promise<void>;
  desired(deviceClass: string): Promise<ClassDesiredState | null>;
  /** Every class's desired state, by class name. */
  listDesired(): Promise<ClassDesiredState[]>;
  /** The device's most recent row in a rollout of `artifactSha`, or null. */
  lastDeployment(deviceId: string, artifactSha: string): Promise<LastDeployment | null>;
  /** The device's most recent rollout row of any artifact: its rollout's creation time and origin. */
  latestRollout(deviceId: string): Promise<LatestRollout | null>;
}
