/**
 * Telemetry of a real device: live inferences of the serving runtime feed the window, the
 * serving manifest gives budgets and the golden set, power comes from RAPL/hwmon when this
 * host exposes them (else from a configured power model, else none), thermal state from
 * sysfs. Simulators build their telemetry from `createTelemetry` with modelled readers.
 */
import type { Logger } from 'pino';
import type { Desired } from '@edgefleet/shared/device';
import type { AgentLink } from '../link/agent-link.js';
import type { Clock } from '@edgefleet/shared/device';
import { createGoldenRunner } from '../meters/accuracy.js';
import { selectPowerSource, type PowerModelFigures, type PowerSysfs } from '../meters/power.js';
import { createSysfsThermalReader, type ThermalSysfs } from '../meters/system.js';
import type { ServingRuntime } from '../runtime/serving.js';
import type { BudgetWatcherOptions, WatchedBudgets } from './budget-watcher.js';
import type { OutboxOptions } from './outbox.js';
import { createTelemetry, type Telemetry, type TelemetryReaders } from './telemetry-service.js';
import { createLinkTransport, type TelemetryDelivery } from './transport.js';
import { stripUndefined } from '@edgefleet/shared/device';

/** What a device's owner (or a test) may set. */
export interface DeviceTelemetryOptions {
  /** Window length, ms; 0: only `closeWindow()` closes one. Default 10 000. */
  readonly windowMs?: number;
  /** Golden-set re-run interval, ms (also run whenever a model starts serving); 0: only then. Default 600 000. */
  readonly goldenIntervalMs?: number;
  /** Used when no power sensor is readable; without it such a device reports no power. */
  readonly powerModel?: PowerModelFigures;
  readonly powerSysfs?: Partial<PowerSysfs>;
  readonly thermalSysfs?: Partial<ThermalSysfs>;
  readonly outbox?: Omit<OutboxOptions, 'dir'>;
  readonly watcher?: BudgetWatcherOptions;
  /** Replace individual readers (tests, simulations). */
  readonly readers?: Partial<TelemetryReaders>;
  /**
   * When an outbox entry counts as delivered. Default `server-ack`: the edgefleet server
   * acknowledges what it committed; `broker-ack` only without an edgefleet server.
   */
  readonly delivery?: TelemetryDelivery;
  /** `server-ack`: wait for the server's acknowledgement before sending again, ms. Default 15 000. */
  readonly ackTimeoutMs?: number;
  /** `broker-ack`: wait for the broker's PUBACK, ms. Default 30 000. */
  readonly publishTimeoutMs?: number;
  /**
   * Multiplies every measured inference latency before it is recorded: a simulated device
   * running real inference on a host faster than the board it stands for (the class speed
   * model × faults). When set, windows label latency `measured` with this `speedFactor`.
   * Default: none (latency as measured, unlabelled).
   */
  readonly latencyScale?: () => number;
}

export interface DeviceTelemetryDeps extends DeviceTelemetryOptions {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly link: AgentLink;
  readonly serving: ServingRuntime;
  /** The manifest a model was deployed with, by sha256 (budgets, golden set, size). */
  readonly manifest: (sha256: string) => Desired | null;
  readonly logger: Logger;
}

/** The manifest's budgets as the watcher reads them; unknown or non-numeric keys are ignored. */
export function manifestBudgets(desired: Desired | null): WatchedBudgets | null {
  const b = desired?.body.budgets;
  if (!b) return null;
  const out: { -readonly [K in keyof WatchedBudgets]: number } = {};
  if (b.latencyP95Ms !== undefined) out.latencyP95Ms = b.latencyP95Ms;
  if (b.powerW !== undefined) out.powerW = b.powerW;
  if (b.minAccuracy !== undefined) out.minAccuracy = b.minAccuracy;
  const energy = (b as Record<string, unknown>).energyPerInferenceMj;
  if (typeof energy === 'number' && Number.isFinite(energy) && energy > 0) out.energyPerInferenceMj = energy;
  return out;
}

export function createDeviceTelemetry(deps: DeviceTelemetryDeps): Telemetry {
  const { serving, link, clock } = deps;
  const log = deps.logger;
  const scale = deps.latencyScale;
  const servingManifest = (): Desired | null => {
    const sha = serving.current()?.sha256;
    return sha === undefined ? null : deps.manifest(sha);
  };
  const golden = createGoldenRunner({
    clock,
    ...stripUndefined({ intervalMs: deps.goldenIntervalMs }),
    onError: (err) => log.warn({ err }, 'golden-set run failed; keeping the previous accuracy figure'),
    target: () => {
      const model = serving.current();
      const desired = servingManifest();
      if (!model || !desired) return null;
      return {
        sha256: model.sha256,
        golden: desired.body.golden,
        outputNames: model.worker.info()?.outputNames ?? [],
        // Straight to the worker: golden rows are not live traffic and must not reach the latency meter.
        run: async (feeds) => (await model.worker.run(feeds)).outputs,
      };
    },
  });
  const power =
    deps.readers?.power !== undefined
      ? deps.readers.power
      : selectPowerSource({
          ...stripUndefined({ sysfs: deps.powerSysfs }),
          ...(deps.powerModel ? { model: () => deps.powerModel ?? null } : {}),
        });
  const readers: TelemetryReaders = {
    thermal: createSysfsThermalReader(deps.thermalSysfs),
    sessionBytes: () => servingManifest()?.body.artifact.size,
    golden: () => {
      const r = golden.latest();
      return r ? { accuracy: r.accuracy, at: r.at } : undefined;
    },
    ...deps.readers,
    power,
  };
  const telemetry = createTelemetry({
    deviceId: deps.deviceId,
    deviceClass: deps.deviceClass,
    dataDir: deps.dataDir,
    clock,
    logger: log,
    transport: createLinkTransport(link, log),
    model: () => {
      const m = serving.current();
      return m ? { sha256: m.sha256, variantId: m.variantId } : null;
    },
    budgets: () => manifestBudgets(servingManifest()),
    readers,
    afterClose: () => {
      void golden.maybeRun();
    },
    ...stripUndefined({
      windowMs: deps.windowMs,
      outbox: deps.outbox,
      watcher: deps.watcher,
      delivery: deps.delivery,
      ackTimeoutMs: deps.ackTimeoutMs,
      publishTimeoutMs: deps.publishTimeoutMs,
    }),
    ...(scale ? { latencyLabel: () => ({ source: 'measured' as const, speedFactor: scale() }) } : {}),
  });
  serving.onInference((result) => telemetry.recordInference(result.latencyMs * (scale?.() ?? 1), result.outputs));
  // Accuracy right after a model starts serving, not only at the next window.
  serving.onInference(() => {
    if (!golden.latest()) void golden.maybeRun();
  });
  return telemetry;
}
