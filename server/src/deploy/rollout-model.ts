/**
 * The rollout's data: policy (waves, abort criteria, timeouts), the rollout record and one
 * record per device. Plain data, shared by the pure state machine, the store and the service.
 *
 * Semantics follow AWS IoT Jobs where they fit: an exponential rollout (a base count that
 * grows by a factor per wave), abort criteria as a threshold percentage of finished devices
 * after a minimum number finished (`minNumberOfExecutedThings`), and a per-device
 * in-progress timeout that ends in a terminal `timed-out`.
 */
import { z } from 'zod';
import type { GoldenSet, ManifestBody } from '@edgefleet/shared';
import type { RolloutOrigin } from '../store/desired.js';

/** Rollout lifecycle: `in-progress` → `completed`, or → `rolling-back` (abort) → `aborted`. */
export const ROLLOUT_STATES = ['in-progress', 'rolling-back', 'completed', 'aborted'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/**
 * Per-device states. `pending`: in a later wave, nothing sent. `notified`: manifest published.
 * `in-progress`: the agent reported progress. Terminal: `succeeded`, `failed`, `timed-out`,
 * `rolled-back` (the server reinstated the previous variant after an abort) and `cancelled`
 * (the rollout ended before the device's wave; it never received the new variant).
 * `rolling-back`: a rollback manifest is out.
 */
export const DEVICE_STATES = [
  'pending',
  'notified',
  'in-progress',
  'succeeded',
  'failed',
  'timed-out',
  'rolling-back',
  'rolled-back',
  'cancelled',
] as const;
export type RolloutDeviceState = (typeof DEVICE_STATES)[number];
export const TERMINAL_DEVICE_STATES: ReadonlySet<RolloutDeviceState> = new Set([
  'succeeded',
  'failed',
  'timed-out',
  'rolled-back',
  'cancelled',
]);
/** Devices holding the new variant's manifest and not finished with it. */
export const IN_FLIGHT_STATES: ReadonlySet<RolloutDeviceState> = new Set(['notified', 'in-progress']);

const pct = z.number().min(0).max(100);

/** How a rollout proceeds. Every field has a default, so `{}` is a valid policy. */
export const rolloutPolicySchema = z.strictObject({
  /** First wave: a percentage of the class (rounded up, at least 1) or a count. Default 10%. */
  canary: z
    .union([z.strictObject({ percent: z.number().gt(0).max(100) }), z.strictObject({ count: z.number().int().min(1) })])
    .default({ percent: 10 }),
  /** Size of the first wave after the canary. Default 2 (AWS: baseRatePerMinute). */
  baseCount: z.number().int().min(1).max(100_000).default(2),
  /** Each later wave is this many times the one before, rounded up. 1–5, default 2 (AWS: incrementFactor). */
  growthFactor: z.number().min(1).max(5).default(2),
  abort: z
    .strictObject({
      /** Abort when failed devices reach this % of finished ones; null: never on failures. Default 20. */
      failedPct: pct.nullable().default(20),
      /** Abort when timed-out devices reach this % of finished ones; null: never on timeouts. Default 20. */
      timedOutPct: pct.nullable().default(20),
      /** Criteria apply only once this many devices finished (AWS: minNumberOfExecutedThings, ≥1). Default 1. */
      minFinished: z.number().int().min(1).default(1),
    })
    .prefault({}),
  /** A notified device that has not finished after this long is `timed-out`, in ms. Default 600000 (10 min). */
  deviceTimeoutMs: z.number().int().positive().default(600_000),
  /**
   * The whole rollout aborts (and rolls back) when still in progress after this long, in ms. Default 86400000 (24 h).
   */
  rolloutTimeoutMs: z.number().int().positive().default(86_400_000),
});
export type RolloutPolicy = z.infer<typeof rolloutPolicySchema>;
export type RolloutPolicyInput = z.input<typeof rolloutPolicySchema>;

/** What a device ran before the rollout: the target of its rollback. */
export const previousVariantSchema = z.object({
  variantId: z.string(),
  sha256: z.string(),
  /** Rollout that installed it (its golden set is reused for the rollback), or null when unknown. */
  rolloutId: z.string().nullable(),
});
export type PreviousVariant = Readonly<z.infer<typeof previousVariantSchema>>;

/** Why a device's deployment (or rollback) failed: the agent's step and reason, or the server's timeout. */
export const deviceFailureSchema = z.object({ step: z.string(), reason: z.string(), detail: z.string() });
export type DeviceFailure = Readonly<z.infer<typeof deviceFailureSchema>>;

export interface RolloutRecord {
  readonly id: string;
  readonly deviceClass: string;
  readonly variantId: string;
  readonly artifactSha: string;
  readonly golden: GoldenSet;
  readonly budgets: ManifestBody['budgets'] | null;
  readonly policy: RolloutPolicy;
  readonly state: RolloutState;
  /** Index of the wave being delivered (0 = canary). */
  readonly currentWave: number;
  readonly waveCount: number;
  /** Why the rollout aborted (or null). */
  readonly reason: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
  /** Why it exists (kept beside the rollout, filled in by the rollout service when it reports one). */
  readonly origin?: RolloutOrigin;
}

export interface RolloutDevice {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly wave: number;
  readonly state: RolloutDeviceState;
  /** Deployment id of the new variant on this device (fixed when planned, used when notified). */
  readonly deploymentId: string;
  readonly previous: PreviousVariant | null;
  /** Deployment id of the rollback, once one was sent. */
  readonly rollbackId: string | null;
  /** Last state the agent reported. */
  readonly agentState: string | null;
  readonly failure: DeviceFailure | null;
  readonly notifiedAt: number | null;
  readonly rollbackAt: number | null;
  readonly finishedAt: number | null;
  readonly updatedAt: number;
}

/**
 * Wave sizes for `total` devices: the canary, then `baseCount`, then each wave `growthFactor`
 * times the previous one (rounded up), the last one cut to what is left.
 */
export function planWaveSizes(total: number, policy: RolloutPolicy): number[] {
  if (total <= 0) return [];
  const canary =
    'percent' in policy.canary ? Math.max(1, Math.ceil((total * policy.canary.percent) / 100)) : policy.canary.count;
  const sizes = [Math.min(total, canary)];
  let left = total - (sizes[0] ?? 0);
  let next = policy.baseCount;
  while (left > 0) {
    const size = Math.min(left, Math.ceil(next));
    sizes.push(size);
    left -= size;
    next *= policy.growthFactor;
  }
  return sizes;
}

/** Deterministic deployment ids: unique per rollout and device index, ≤ 128 chars [EF-PROTO 6.2]. */
export function deploymentIdFor(rolloutId: string, index: number): string {
  return `${rolloutId}.d${index}`;
}

export function rollbackIdFor(deploymentId: string): string {
  return `${deploymentId}.rb`;
}
