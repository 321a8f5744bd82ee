/**
 * The class's desired state, enforced [EF-PROTO 6.8]: once a class-wide rollout completes, its
 * variant is what every member of the class should run. A device that joins the class later,
 * or comes back after missing the rollout, is brought to it by a catch-up rollout: the same
 * signed manifest, chunked download, golden-set smoke test and rollback as any rollout, with
 * its reason in the rollout record (`origin: catch-up`) and no admin action.
 *
 * Left alone: devices in a rollout in progress, devices whose latest rollout chose them on
 * purpose after the desired state was set (a cohort on another variant), and devices that
 * already failed this variant (or, in a catch-up, did not answer) within `retryMs`, so a
 * device that cannot run the model is not asked again every few seconds. So is a device that
 * installed the variant after the class settled on it but reports another model since.
 */
import type { Logger } from '../log/logger.js';
import type { ClassDesiredState, DesiredStateRepository } from '../store/desired.js';
import type { DeviceRepository } from '../store/devices.js';
import type { RolloutRepository } from '../store/rollouts.js';
import type { RolloutService } from './rollout-service.js';

export interface ClassDesiredOptions {
  readonly desired: DesiredStateRepository;
  /** Starts catch-up rollouts and reports which rollouts are active (with their origin). */
  readonly rollouts: RolloutService;
  /** The source rollout (its golden set and budgets). */
  readonly rolloutRepo: Pick<RolloutRepository, 'get'>;
  readonly devices: Pick<DeviceRepository, 'list'>;
  /** Revoked devices are never caught up (rollout-service.ts refuses them as members too). Default: none. */
  readonly revokedDevices?: () => Promise<ReadonlySet<string>>;
  readonly logger: Logger;
  /**
   * After a failed (or, in a catch-up, unanswered) attempt, wait
   * this long before trying the device again, ms. Default 3600000.
   */
  readonly retryMs?: number;
  /** A catch-up device that does not finish within this long is timed out, ms. Default 120000. */
  readonly deviceTimeoutMs?: number;
}

export interface CatchUp {
  readonly deviceClass: string;
  readonly rolloutId: string;
  readonly deviceIds: readonly string[];
}

export interface ClassDesiredReconciler {
  /** Starts a catch-up rollout for each class with members behind its desired state; returns what it started. */
  reconcile(now: number): Promise<CatchUp[]>;
}

const RETRY_AFTER_STATES: ReadonlySet<string> = new Set(['failed', 'rolled-back']);

export function createClassDesiredReconciler(options: ClassDesiredOptions): ClassDesiredReconciler {
  const { desired: repo, rollouts, logger: log } = options;
  const retryMs = options.retryMs ?? 3_600_000;

  /** Whether the device should be brought to `desired` now. */
  async function behind(deviceId: string, desired: ClassDesiredState, setAt: number, now: number): Promise<boolean> {
    const latest = await repo.latestRollout(deviceId);
    // Chosen on purpose for another variant after the desired state was set (e.g. a throttled cohort).
    if (latest && latest.origin === 'devices' && latest.createdAt > setAt) return false;
    const last = await repo.lastDeployment(deviceId, desired.artifactSha);
    if (!last || now - last.at >= retryMs) return true;
    if (RETRY_AFTER_STATES.has(last.state)) return false;
    // It installed the class's variant after the class settled on it, yet reports another model:
    // it dropped it on its own, or does not say what it serves. Asking again at every check would
    // roll the same variant out to it forever, so it waits out the retry window as after a failure.
    if (last.state === 'succeeded' && last.at > setAt) return false;
    // Timing out in the class rollout usually means it was away; in a catch-up it was here and did not answer.
    return !(last.state === 'timed-out' && last.origin === 'catch-up');
  }

  async function catchUp(desired: ClassDesiredState, now: number): Promise<CatchUp | null> {
    const active = await rollouts.list({ active: true, deviceClass: desired.deviceClass });
    // The class is being changed right now; its members are the running rollout's business.
    if (active.some((r) => r.origin?.kind !== 'catch-up')) return null;
    const busy = new Set<string>();
    for (const r of active) for (const d of (await rollouts.status(r.id)).devices) busy.add(d.deviceId);
    const source = await options.rolloutRepo.get(desired.rolloutId);
    if (!source) return null;
    const late: string[] = [];
    const revoked = (await options.revokedDevices?.()) ?? new Set<string>();
    for (const d of await options.devices.list({ deviceClass: desired.deviceClass })) {
      if (d.state !== 'online' || d.currentModel === desired.artifactSha || busy.has(d.id) || revoked.has(d.id))
        continue;
      if (await behind(d.id, desired, desired.setAt, now)) late.push(d.id);
    }
    late.sort();
    if (late.length === 0) return null;
    const shown = late.slice(0, 5).join(', ') + (late.length > 5 ? `, … (${late.length} in all)` : '');
    const reason =
      `${late.length} member(s) of ${desired.deviceClass} not on its desired variant ` +
      `${desired.variantId} (set by ${desired.rolloutId}): ${shown}`;
    const status = await rollouts.start({
      deviceClass: desired.deviceClass,
      artifact: { sha256: desired.artifactSha },
      variantId: desired.variantId,
      golden: source.golden,
      ...(source.budgets ? { budgets: source.budgets } : {}),
      deviceIds: late,
      // One wave: the variant is proven on this class already. No abort: one device's failure is its own.
      policy: {
        canary: { count: late.length },
        abort: { failedPct: null, timedOutPct: null },
        deviceTimeoutMs: options.deviceTimeoutMs ?? 120_000,
      },
      origin: { kind: 'catch-up', sourceRolloutId: desired.rolloutId, reason },
    });
    log.info(
      { deviceClass: desired.deviceClass, rolloutId: status.rollout.id, devices: late },
      'catch-up rollout started',
    );
    return { deviceClass: desired.deviceClass, rolloutId: status.rollout.id, deviceIds: late };
  }

  return {
    async reconcile(now) {
      const started: CatchUp[] = [];
      for (const desired of await repo.listDesired()) {
        try {
          const c = await catchUp(desired, now);
          if (c) started.push(c);
        } catch (err: unknown) {
          log.warn(
            { err, deviceClass: desired.deviceClass },
            'catch-up of late class members failed; retrying next time',
          );
        }
      }
      return started;
    },
  };
}
