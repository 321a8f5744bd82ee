/**
 * Rollouts as a service over the store: start one (plan its waves), evaluate every active
 * rollout on `tick(now)` (the pure machine decides; this persists, then acts), ingest deploy
 * reports, abort, and report status. A server restart calls `resume()`, which re-publishes
 * the manifest of every device still in flight, so a crash between "persisted" and
 * "published" loses nothing.
 *
 * These are the functions the CLI and the admin API call.
 */
import { EdgefleetError, type DeployReport, type GoldenSet, type ManifestBody } from '@edgefleet/shared';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/db.js';
import type { ServerArtifactStore } from './artifact-store.js';
import type { RolloutActor } from './rollout-actor.js';
import {
  ABORT_REQUEST_PREFIX,
  applyReport,
  decide,
  decideAbort,
  outcomeCounts,
  type RolloutDecision,
} from './rollout-machine.js';
import {
  deploymentIdFor,
  DEVICE_STATES,
  IN_FLIGHT_STATES,
  planWaveSizes,
  rolloutPolicySchema,
  type PreviousVariant,
  type RolloutDevice,
  type RolloutDeviceState,
  type RolloutPolicyInput,
  type RolloutRecord,
} from './rollout-model.js';

export interface StartRolloutInput {
  readonly deviceClass: string;
  /** sha256 of an artifact already in the store (a planner variant), or model bytes to store. */
  readonly artifact: { readonly sha256: string } | { readonly bytes: Uint8Array };
  /** Default `v-<first 12 hex of sha256>`. */
  readonly variantId?: string;
  readonly golden: GoldenSet;
  readonly budgets?: ManifestBody['budgets'];
  readonly policy?: RolloutPolicyInput;
  /** Only these devices of the class (a cohort, issue 7). Default: every device of the class. */
  readonly deviceIds?: readonly string[];
  /** Only persist the rollout; the server's next tick notifies the canary (the CLI without a broker). */
  readonly deferred?: boolean;
}

export interface WaveStatus {
  readonly index: number;
  readonly size: number;
  readonly counts: Readonly<Record<RolloutDeviceState, number>>;
}

export interface RolloutStatus {
  readonly rollout: RolloutRecord;
  readonly waves: readonly WaveStatus[];
  readonly devices: readonly RolloutDevice[];
  readonly outcome: ReturnType<typeof outcomeCounts>;
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
    }
  | { readonly type: 'rollout.wave'; readonly rolloutId: string; readonly wave: number; readonly devices: number }
  | { readonly type: 'rollout.aborted'; readonly rolloutId: string; readonly reason: string }
  | { readonly type: 'rollout.finished'; readonly rolloutId: string; readonly state: RolloutRecord['state'] };

export interface RolloutServiceOptions {
  readonly store: Store;
  readonly artifacts: ServerArtifactStore;
  readonly actor: RolloutActor;
  readonly logger: Logger;
  readonly now: () => number;
  /** Random source for rollout ids. */
  readonly random: () => number;
  readonly onEvent?: (event: RolloutEvent) => void;
}

export interface RolloutService {
  start(input: StartRolloutInput): Promise<RolloutStatus>;
  /** Evaluates every active rollout at `now` (default: the injected clock). */
  tick(now?: number): Promise<void>;
  abort(id: string, reason?: string): Promise<RolloutStatus>;
  /** Records an abort request the server's next tick carries out (the CLI without a broker). */
  requestAbort(id: string, reason?: string): RolloutStatus;
  status(id: string): RolloutStatus;
  list(filter?: { readonly active?: boolean; readonly deviceClass?: string }): RolloutRecord[];
  /** Ingests one deploy report (deduplicated); returns true when it changed a device. */
  handleReport(report: DeployReport): boolean;
  /** Re-publishes the manifests of in-flight devices (after a restart). */
  resume(): Promise<void>;
}

const zeroCounts = (): Record<RolloutDeviceState, number> =>
  Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<RolloutDeviceState, number>;

export function createRolloutService(options: RolloutServiceOptions): RolloutService {
  const { store, artifacts, actor, now } = options;
  const tables = store.rollouts;
  const log = options.logger;
  // Ticks, starts and aborts are serialised; each decides and saves synchronously, then acts.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => undefined);
    return p;
  };

  function status(id: string): RolloutStatus {
    const rollout = tables.getRollout(id);
    if (!rollout)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_NOT_FOUND',
        `no rollout ${id}; list them with \`edgefleet rollout status\``,
        { id },
      );
    const devices = tables.devicesOf(id);
    const waves: WaveStatus[] = [];
    for (let i = 0; i < rollout.waveCount; i += 1) {
      const members = devices.filter((d) => d.wave === i);
      const counts = zeroCounts();
      for (const d of members) counts[d.state] += 1;
      waves.push({ index: i, size: members.length, counts });
    }
    return { rollout, waves, devices, outcome: outcomeCounts(devices) };
  }

  function previousOf(deviceId: string, currentModel: string | null): PreviousVariant | null {
    const last = tables.lastInstalled(deviceId);
    if (last && (currentModel === null || currentModel === last.sha256)) return last;
    if (currentModel !== null && tables.getArtifact(currentModel))
      return { variantId: `v-${currentModel.slice(0, 12)}`, sha256: currentModel, rolloutId: null };
    return last;
  }

  async function apply(decision: RolloutDecision, before: RolloutRecord): Promise<void> {
    const changed = decision.rollout !== before || decision.changed.length > 0;
    if (changed) tables.save(decision.rollout, decision.changed);
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
    }
    const failed = await actor.act(r, decision.actions);
    // A rollback that cannot even be built (previous artifact gone) ends that device now.
    for (const f of failed) {
      const dev = tables.findByDeployment(f.deploymentId);
      if (dev && dev.state === 'rolling-back')
        tables.save(tables.getRollout(r.id) ?? r, [
          {
            ...dev,
            state: 'failed',
            finishedAt: now(),
            updatedAt: now(),
            failure: { step: 'rollback', reason: 'rollback-unavailable', detail: f.detail },
          },
        ]);
    }
  }

  async function evaluate(id: string, at: number): Promise<void> {
    const before = tables.getRollout(id);
    if (!before) return;
    await apply(decide({ rollout: before, devices: tables.devicesOf(id) }, at), before);
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
    const wanted = input.deviceIds === undefined ? null : new Set(input.deviceIds);
    const members = store.devices
      .list()
      .filter((d) => d.deviceClass === input.deviceClass && (wanted === null || wanted.has(d.id)))
      // Online devices first, so the canary answers quickly; then by id, for a stable plan.
      .sort((a, b) => (a.state === b.state ? a.id.localeCompare(b.id) : a.state === 'online' ? -1 : 1));
    if (members.length === 0)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_INVALID',
        `class ${input.deviceClass} has no devices${wanted ? ' among those named' : ''}; start agents of that class first`,
        { deviceClass: input.deviceClass },
      );
    const busy = new Set(
      tables.listRollouts({ active: true }).flatMap((r) => tables.devicesOf(r.id).map((d) => d.deviceId)),
    );
    const clash = members.find((d) => busy.has(d.id));
    if (clash)
      throw new EdgefleetError(
        'EF_ERR_ROLLOUT_CONFLICT',
        `device ${clash.id} is in a rollout still in progress; wait for it or abort it first`,
        { deviceId: clash.id },
      );
    const layout = 'bytes' in artifact ? await artifacts.put(artifact.bytes) : await artifacts.layout(artifact.sha256);
    const sizes = planWaveSizes(members.length, policy.data);
    const id = `ro-${at.toString(36)}-${Math.floor(options.random() * 36 ** 4)
      .toString(36)
      .padStart(4, '0')}`;
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
    let wave = 0;
    let inWave = 0;
    const devices = members.map((d, index): RolloutDevice => {
      if (inWave >= (sizes[wave] ?? 0)) {
        wave += 1;
        inWave = 0;
      }
      inWave += 1;
      return {
        rolloutId: id,
        deviceId: d.id,
        wave,
        state: 'pending',
        deploymentId: deploymentIdFor(id, index),
        previous: previousOf(d.id, d.currentModel),
        rollbackId: null,
        agentState: null,
        failure: null,
        notifiedAt: null,
        rollbackAt: null,
        finishedAt: null,
        updatedAt: at,
      };
    });
    tables.insertRollout(rollout, devices);
    log.info(
      {
        rolloutId: id,
        deviceClass: input.deviceClass,
        variantId: rollout.variantId,
        devices: devices.length,
        waves: sizes,
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
    });
    if (input.deferred !== true) await serial(() => evaluate(id, at));
    return status(id);
  }

  return {
    start,
    tick: (at) =>
      serial(async () => {
        const t = at ?? now();
        for (const r of tables.listRollouts({ active: true })) await evaluate(r.id, t);
      }),
    abort: (id, reason) =>
      serial(async () => {
        const before = status(id).rollout;
        if (before.state !== 'in-progress')
          throw new EdgefleetError(
            'EF_ERR_ROLLOUT_CONFLICT',
            `rollout ${id} is ${before.state}; only a rollout in progress can be aborted`,
            { id, state: before.state },
          );
        await apply(
          decideAbort({ rollout: before, devices: tables.devicesOf(id) }, reason ?? 'aborted by an operator', now()),
          before,
        );
        return status(id);
      }),
    requestAbort(id, reason) {
      const r = status(id).rollout;
      if (r.state !== 'in-progress')
        throw new EdgefleetError(
          'EF_ERR_ROLLOUT_CONFLICT',
          `rollout ${id} is ${r.state}; only a rollout in progress can be aborted`,
          { id, state: r.state },
        );
      tables.save(
        { ...r, reason: `${ABORT_REQUEST_PREFIX}${reason ?? 'aborted by an operator'}`, updatedAt: now() },
        [],
      );
      return status(id);
    },
    status,
    list: (filter) => tables.listRollouts(filter),
    handleReport(report) {
      const at = now();
      if (!tables.recordReport(report.deploymentId, report.state, report.deviceId, at, report)) return false;
      if (report.state === 'succeeded' || report.state === 'rolled-back')
        store.devices.touch(report.deviceId, at, report.serving);
      const dev = tables.findByDeployment(report.deploymentId);
      if (!dev || dev.deviceId !== report.deviceId) return false;
      const next = applyReport(dev, report, at);
      if (!next) return false;
      const rollout = tables.getRollout(dev.rolloutId);
      if (!rollout) return false;
      tables.save(rollout, [next]);
      return true;
    },
    resume: () =>
      serial(async () => {
        for (const r of tables.listRollouts({ active: true })) {
          const devices = tables.devicesOf(r.id);
          const actions = [
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
          log.info({ rolloutId: r.id, state: r.state, republished: actions.length }, 'rollout resumed');
          await actor.act(r, actions);
        }
      }),
  };
}
