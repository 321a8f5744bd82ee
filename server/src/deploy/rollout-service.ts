/**
 * Rollouts as a service over the repositories: start one (plan its waves), evaluate every
 * active rollout on `tick(now)` (the pure machine decides; this persists, then acts), ingest
 * deploy reports, abort, and report status. A server restart calls `resume()`, which
 * re-publishes the manifest of every device still in flight, so a crash between "persisted"
 * and "published" loses nothing.
 *
 * Without an actor (services started by the CLI on a data directory, with no broker) the
 * service only records: a start plans the waves and the server's first evaluation notifies
 * the canary; an abort marks the rollout `rolling-back` and the server sends the rollbacks.
 */
import { EdgefleetError, type DeployReport, type GoldenSet, type ManifestBody } from '@edgefleet/shared';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { DesiredStateRepository, RolloutOrigin } from '../store/desired.js';
import type { DeviceRecord, DeviceRepository } from '../store/devices.js';
import type { DeviceDeploymentRow, OwnershipFence, RolloutRepository } from '../store/rollouts.js';
import type { ServerArtifactStore } from './artifact-store.js';
import type { RolloutActor } from './rollout-actor.js';
import { supersede } from './supersede.js';
import { applyReport, decide, decideAbort, markAborted, type RolloutDecision } from './rollout-machine.js';
import {
  deploymentIdFor,
  IN_FLIGHT_STATES,
  planWaveSizes,
  rolloutPolicySchema,
  type PreviousVariant,
  type RolloutDevice,
  type RolloutPolicyInput,
  type RolloutRecord,
} from './rollout-model.js';
import { rolloutStatusOf, type RolloutStatus } from './rollout-status.js';

export type { RolloutStatus, WaveStatus } from './rollout-status.js';

export interface StartRolloutInput {
  readonly deviceClass: string;
  /** sha256 of an artifact already in the store (a planner variant), or model bytes to store. */
  readonly artifact: { readonly sha256: string } | { readonly bytes: Uint8Array };
  /** Default `v-<first 12 hex of sha256>`. */
  readonly variantId?: string;
  readonly golden: GoldenSet;
  readonly budgets?: ManifestBody['budgets'];
  readonly policy?: RolloutPolicyInput;
  /** Only these devices of the class (a cohort). Default: every device of the class. */
  readonly deviceIds?: readonly string[];
  /**
   * Why it exists. Default `devices` with `deviceIds`, else `class` (its completion sets the class's desired state).
   */
  readonly origin?: RolloutOrigin;
}

/** A rollout event for the server's event bus. */
export type RolloutEvent =
  | {
      readonly type: 'rollout.started';
      readonly rolloutId: string;
      readonly deviceClass: string;
      readonly variantId: string;
      readonly devices: number;
      readonly waves: number;
      /** `class`, `devices` or `catch-up` (late or returning members brought to the class's desired state). */
      readonly origin: RolloutOrigin['kind'];
    }
  | { readonly type: 'rollout.wave'; readonly rolloutId: string; readonly wave: number; readonly devices: number }
  | { readonly type: 'rollout.aborted'; readonly rolloutId: string; readonly reason: string }
  | { readonly type: 'rollout.finished'; readonly rolloutId: string; readonly state: RolloutRecord['state'] };

export interface RolloutServiceOptions {
  readonly rollouts: RolloutRepository;
  /** Rollout origins and each class's desired state (set when a class-wide rollout completes). */
  readonly desired: DesiredStateRepository;
  readonly devices: Pick<DeviceRepository, 'list' | 'touch'>;
  /**
   * Devices whose credential was revoked: never members of a rollout, even while their
   * registry row (and a stale `online` state) remains. Default: none (auth off).
   */
  readonly revokedDevices?: () => Promise<ReadonlySet<string>>;
  readonly artifacts: ServerArtifactStore;
  /** Publishes manifests; null: this process has no broker and the server carries decisions out. */
  readonly actor: RolloutActor | null;
  readonly logger: Logger;
  readonly now: () => number;
  /**
   * The fencing token of this replica's tenure of the rollouts (issue 20): the owner's own work
   * (evaluations, deploy reports) saves with it, so a replica that lost the rollouts while paused
   * cannot overwrite the new owner's state. Admin writes (start, abort) may come from any replica
   * and save unfenced. Default: no fence (one process).
   */
  readonly fence?: () => OwnershipFence | null;
  /** Random source for rollout ids. */
  readonly random: () => number;
  readonly onEvent?: (event: RolloutEvent) => void;
}

export interface RolloutService {
  start(input: StartRolloutInput): Promise<RolloutStatus>;
  /** Evaluates every active rollout at `now` (default: the injected clock). */
  tick(now?: number): Promise<void>;
  abort(id: string, reason?: string): Promise<RolloutStatus>;
  status(id: string): Promise<RolloutStatus>;
  list(filter?: { readonly active?: boolean; readonly deviceClass?: string }): Promise<RolloutRecord[]>;
  /** Every rollout the device took part in, with its row there, newest first (its model history). */
  history(deviceId: string): Promise<DeviceDeploymentRow[]>;
  /** Ingests one deploy report (deduplicated); true when it changed a device. */
  handleReport(report: DeployReport): Promise<boolean>;
  /** Re-publishes the manifests of in-flight devices (after a restart). */
  resume(): Promise<void>;
}

/** Online devices first, so the canary answers quickly; then by id, for a stable plan. */
const canaryOrder = (a: DeviceRecord, b: DeviceRecord): number =>
  a.state === b.state ? a.id.localeCompare(b.id) : a.state === 'online' ? -1 : 1;

/**
 * A rollout's members: the class's registered devices (or those of them named), minus revoked
 * ones, in canary order. A revoked device keeps its registry row (the device list shows it as
 * revoked) and may still look online until the broker drops it, so the registry alone is not
 * the membership.
 */
export function selectRolloutMembers(
  classDevices: readonly DeviceRecord[],
  named: readonly string[] | undefined,
  revoked: ReadonlySet<string>,
): DeviceRecord[] {
  const wanted = named === undefined ? null : new Set(named);
  return classDevices.filter((d) => !revoked.has(d.id) && (wanted === null || wanted.has(d.id))).sort(canaryOrder);
}

export function createRolloutService(options: RolloutServiceOptions): RolloutService {
  const { rollouts: repo, desired, artifacts, actor, now } = options;
  const log = options.logger;
  // Ticks, starts and aborts are serialised; each decides and saves, then acts.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => undefined);
    return p;
  };

  async function status(id: string): Promise<RolloutStatus> {
    const rollout = await repo.get(id);
    if (!rollout)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_NOT_FOUND',
        `no rollout ${id}; list them with \`edgefleet rollout status\``,
        { id },
      );
    return rolloutStatusOf({ ...rollout, origin: await desired.origin(id) }, await repo.devicesOf(id));
  }

  async function previousOf(deviceId: string, currentModel: string | null): Promise<PreviousVariant | null> {
    const last = await repo.lastInstalled(deviceId);
    if (last && (currentModel === null || currentModel === last.sha256)) return last;
    if (currentModel !== null && (await artifacts.has(currentModel)))
      return { variantId: `v-${currentModel.slice(0, 12)}`, sha256: currentModel, rolloutId: null };
    return last;
  }

  /** A rollback that cannot even be built (previous artifact gone) ends that device now. */
  async function failUnbuildableRollbacks(
    rolloutId: string,
    failed: readonly { deploymentId: string; detail: string }[],
    fence: OwnershipFence | undefined,
  ) {
    for (const f of failed) {
      const dev = await repo.findByDeployment(f.deploymentId);
      const rollout = await repo.get(rolloutId);
      if (dev?.state !== 'rolling-back' || !rollout) continue;
      const failure = { step: 'rollback', reason: 'rollback-unavailable', detail: f.detail };
      await repo.save(rollout, [{ ...dev, state: 'failed', finishedAt: now(), updatedAt: now(), failure }], fence);
    }
  }

  async function announce(decision: RolloutDecision, before: RolloutRecord): Promise<void> {
    const r = decision.rollout;
    if (before.state === 'in-progress' && r.state === 'rolling-back') {
      log.warn({ rolloutId: r.id, reason: r.reason }, 'rollout aborted; rolling back updated devices');
      options.onEvent?.({ type: 'rollout.aborted', rolloutId: r.id, reason: r.reason ?? '' });
    }
    const deployed = decision.actions.filter((a) => a.kind === 'deploy').length;
    if (deployed > 0) {
      log.info({ rolloutId: r.id, wave: r.currentWave, devices: deployed }, 'rollout wave notified');
      options.onEvent?.({ type: 'rollout.wave', rolloutId: r.id, wave: r.currentWave, devices: deployed });
    }
    if ((r.state === 'completed' || r.state === 'aborted') && before.state !== r.state) {
      log.info({ rolloutId: r.id, state: r.state }, 'rollout finished');
      options.onEvent?.({ type: 'rollout.finished', rolloutId: r.id, state: r.state });
      // A completed class-wide rollout is what the class should run from now on, late members included.
      if (r.state === 'completed' && (await desired.origin(r.id)).kind === 'class') {
        await desired.setDesired({
          deviceClass: r.deviceClass,
          rolloutId: r.id,
          variantId: r.variantId,
          artifactSha: r.artifactSha,
          setAt: now(),
        });
        log.info({ deviceClass: r.deviceClass, variantId: r.variantId, rolloutId: r.id }, 'class desired state set');
      }
    }
  }

  /** The owner's fence, for its own work; undefined for admin writes and with one process. */
  const ownerFence = (): OwnershipFence | undefined => options.fence?.() ?? undefined;

  async function apply(decision: RolloutDecision, before: RolloutRecord, fence?: OwnershipFence): Promise<void> {
    if (decision.rollout !== before || decision.changed.length > 0)
      await repo.save(decision.rollout, decision.changed, fence);
    await announce(decision, before);
    if (!actor) return;
    await failUnbuildableRollbacks(decision.rollout.id, await actor.act(decision.rollout, decision.actions), fence);
  }

  /** Ends every catch-up rollout in progress that holds one of `members` (supersede.ts). */
  async function supersedeCatchUps(members: ReadonlySet<string>, byId: string, at: number): Promise<void> {
    for (const r of await repo.list({ active: true })) {
      if ((await desired.origin(r.id)).kind !== 'catch-up') continue;
      const rows = await repo.devicesOf(r.id);
      if (!rows.some((d) => members.has(d.deviceId))) continue;
      const next = supersede(r, rows, byId, at);
      await repo.save(next.rollout, next.changed);
      log.info({ rolloutId: r.id, by: byId, devices: next.changed.length }, 'catch-up rollout superseded');
      options.onEvent?.({ type: 'rollout.aborted', rolloutId: r.id, reason: next.rollout.reason ?? '' });
    }
  }

  /** `fence`: the owner's tick passes its token; the first evaluation right after a start (any replica) does not. */
  async function evaluate(id: string, at: number, fence?: OwnershipFence): Promise<void> {
    const before = await repo.get(id);
    if (!before) return;
    await apply(decide({ rollout: before, devices: await repo.devicesOf(id) }, at), before, fence);
  }

  /** The class's devices (or the named cohort) that are not revoked, online first; refuses an empty set. */
  async function membersOf(input: StartRolloutInput): Promise<DeviceRecord[]> {
    const members = selectRolloutMembers(
      await options.devices.list({ deviceClass: input.deviceClass }),
      input.deviceIds,
      (await options.revokedDevices?.()) ?? new Set(),
    );
    if (members.length === 0)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_INVALID',
        `class ${input.deviceClass} has no devices that are not ` +
          `revoked${input.deviceIds ? ' among those named' : ''};` +
          ' start agents of that class first',
        { deviceClass: input.deviceClass },
      );
    return members;
  }

  /** Refuses a start when one of `members` is in a rollout still in progress. */
  async function refuseBusy(members: readonly DeviceRecord[]): Promise<void> {
    const busy = new Set<string>();
    for (const r of await repo.list({ active: true })) for (const d of await repo.devicesOf(r.id)) busy.add(d.deviceId);
    const clash = members.find((d) => busy.has(d.id));
    if (clash)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_CONFLICT',
        `device ${clash.id} is in a rollout still in progress; wait for it or abort it first`,
        { deviceId: clash.id },
      );
  }

  /** Devices in waves of the planned sizes, each with the deployment id it will be notified under. */
  async function planDevices(id: string, members: readonly DeviceRecord[], sizes: readonly number[], at: number) {
    const devices: RolloutDevice[] = [];
    let wave = 0;
    let inWave = 0;
    for (const [index, d] of members.entries()) {
      if (inWave >= (sizes[wave] ?? 0)) {
        wave += 1;
        inWave = 0;
      }
      inWave += 1;
      devices.push({
        rolloutId: id,
        deviceId: d.id,
        wave,
        state: 'pending',
        deploymentId: deploymentIdFor(id, index),
        previous: await previousOf(d.id, d.currentModel),
        rollbackId: null,
        agentState: null,
        failure: null,
        notifiedAt: null,
        rollbackAt: null,
        finishedAt: null,
        updatedAt: at,
      });
    }
    return devices;
  }

  async function start(input: StartRolloutInput): Promise<RolloutStatus> {
    const policy = rolloutPolicySchema.safeParse(input.policy ?? {});
    if (!policy.success)
      throw new EdgefleetError('EF_ERR_ROLLOUT_INVALID', `rollout policy: ${z.prettifyError(policy.error)}`);
    // A stored artifact must exist before anything is decided; new bytes are written only
    // once every check passed, so a refused start leaves nothing behind (issue 18, finding 8).
    const { artifact } = input;
    if (!('bytes' in artifact)) await artifacts.layout(artifact.sha256);
    const at = now();
    const members = await membersOf(input);
    const sizes = planWaveSizes(members.length, policy.data);
    const suffix = Math.floor(options.random() * 36 ** 4)
      .toString(36)
      .padStart(4, '0');
    const id = `ro-${at.toString(36)}-${suffix}`;
    const origin: RolloutOrigin = input.origin ?? { kind: input.deviceIds === undefined ? 'class' : 'devices' };
    // A catch-up in progress gives way to any other rollout of its devices: the newer intent wins.
    if (origin.kind !== 'catch-up') await supersedeCatchUps(new Set(members.map((d) => d.id)), id, at);
    await refuseBusy(members);
    const layout = 'bytes' in artifact ? await artifacts.put(artifact.bytes) : await artifacts.layout(artifact.sha256);
    const rollout: RolloutRecord = {
      id,
      deviceClass: input.deviceClass,
      variantId: input.variantId ?? `v-${layout.sha256.slice(0, 12)}`,
      artifactSha: layout.sha256,
      golden: input.golden,
      budgets: input.budgets ?? null,
      policy: policy.data,
      state: 'in-progress',
      currentWave: 0,
      waveCount: sizes.length,
      reason: null,
      createdAt: at,
      updatedAt: at,
      finishedAt: null,
    };
    const devices = await planDevices(id, members, sizes, at);
    await repo.insert(rollout, devices, origin);
    log.info(
      {
        rolloutId: id,
        deviceClass: input.deviceClass,
        variantId: rollout.variantId,
        devices: devices.length,
        waves: sizes,
        origin: origin.kind,
        ...(origin.kind === 'catch-up' ? { reason: origin.reason } : {}),
      },
      'rollout started',
    );
    options.onEvent?.({
      type: 'rollout.started',
      rolloutId: id,
      deviceClass: input.deviceClass,
      variantId: rollout.variantId,
      devices: devices.length,
      waves: sizes.length,
      origin: origin.kind,
    });
    if (actor) await serial(() => evaluate(id, at));
    return status(id);
  }

  async function abort(id: string, reason = 'aborted by an operator'): Promise<RolloutStatus> {
    const before = (await status(id)).rollout;
    if (before.state !== 'in-progress')
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_CONFLICT',
        `rollout ${id} is ${before.state}; only a rollout in progress can be aborted`,
        { id, state: before.state },
      );
    const snapshot = { rollout: before, devices: await repo.devicesOf(id) };
    await apply(actor ? decideAbort(snapshot, reason, now()) : markAborted(snapshot, reason, now()), before);
    return status(id);
  }

  async function ingestReport(report: DeployReport): Promise<boolean> {
    const at = now();
    if (!(await repo.recordReport(report.deploymentId, report.state, report.deviceId, at, report))) return false;
    if (report.state === 'succeeded' || report.state === 'rolled-back')
      await options.devices.touch(report.deviceId, at, report.serving);
    const dev = await repo.findByDeployment(report.deploymentId);
    if (!dev || dev.deviceId !== report.deviceId) return false;
    const next = applyReport(dev, report, at);
    if (!next) return false;
    const rollout = await repo.get(dev.rolloutId);
    if (!rollout) return false;
    await repo.save(rollout, [next], ownerFence());
    return true;
  }

  /** Every in-flight manifest and rollback of an active rollout, to publish again. */
  function resumeActions(devices: readonly RolloutDevice[]) {
    return [
      ...devices
        .filter((d) => IN_FLIGHT_STATES.has(d.state))
        .map((d) => ({ kind: 'deploy' as const, deviceId: d.deviceId, deploymentId: d.deploymentId })),
      ...devices
        .filter((d) => d.state === 'rolling-back' && d.previous !== null && d.rollbackId !== null)
        .map((d) => ({
          kind: 'rollback' as const,
          deviceId: d.deviceId,
          deploymentId: d.rollbackId as string,
          previous: d.previous as PreviousVariant,
        })),
    ];
  }

  return {
    start,
    tick: (at) =>
      serial(async () => {
        const t = at ?? now();
        const fence = ownerFence();
        for (const r of await repo.list({ active: true })) await evaluate(r.id, t, fence);
      }),
    abort: (id, reason) => serial(() => abort(id, reason)),
    status,
    list: async (filter) =>
      Promise.all((await repo.list(filter)).map(async (r) => ({ ...r, origin: await desired.origin(r.id) }))),
    history: (deviceId) => repo.historyOf(deviceId),
    // On the same chain as evaluations: a report must not land between an evaluation's read and its save.
    handleReport: (report) => serial(() => ingestReport(report)),
    resume: () =>
      serial(async () => {
        if (!actor) return;
        for (const r of await repo.list({ active: true })) {
          const actions = resumeActions(await repo.devicesOf(r.id));
          log.info({ rolloutId: r.id, state: r.state, republished: actions.length }, 'rollout resumed');
          await actor.act(r, actions);
        }
      }),
  };
}
