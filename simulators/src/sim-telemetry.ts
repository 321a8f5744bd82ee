/**
 * Telemetry of a simulated device: the agent's real telemetry pipeline (windows, on-disk
 * outbox, budget watcher, QoS 1 over the real link, the server's acknowledgements) fed with
 * modelled readings instead of sensors. Latency = the variant's host latency × the profile's multiplier for its
 * precision × the device's condition, with seeded gaussian jitter; power from the profile's
 * idle watts and active watts for the model's precision, and the modelled duty cycle. Every figure is labelled
 * `modelled`.
 *
 * `condition` is the handle fault injection turns (thermal throttling lowers `speedFactor`,
 * a broken int8 unit lowers `accuracyOffset`, …); changes show in the next window.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  createLinkTransport,
  createModelledPowerSource,
  createTelemetry,
  type AgentLink,
  type Clock,
  type RandomSource,
  type Telemetry,
  type TelemetryDelivery,
  type WatchedBudgets,
} from '@edgefleet/agent';
import type { Precision } from '@edgefleet/shared';
import { NO_FAULT, type FaultEffects } from './faults/faults.js';
import { activePowerW, type DeviceProfile } from './profiles/profiles.js';
import { stripUndefined } from '@edgefleet/shared';

/** A device's state that faults change; mutable on purpose. */
export interface DeviceCondition {
  /** Multiplies latency: 1 normal, 2 twice as slow (e.g. thermally throttled). */
  speedFactor: number;
  /** Added to golden accuracy and live confidence (e.g. -0.3 for an int8 unit computing wrongly). */
  accuracyOffset: number;
  /** Reported as `thermal.throttled`. */
  throttled: boolean;
}

/** The variant a simulated device serves, as far as telemetry needs it. */
export interface SimulatedModel {
  readonly sha256: string;
  readonly variantId: string;
  readonly precision: Precision;
  /** Latency of this variant measured on the simulating host, ms (the planner's figure). */
  readonly hostLatencyMs: number;
  /** Golden-set accuracy of the variant on a healthy device, 0..1 (reported with the condition's offset). */
  readonly goldenAccuracy?: number;
  /** Mean top-1 confidence on a healthy device, 0..1. Default: goldenAccuracy, else none. */
  readonly confidence?: number;
  /** Model file size, bytes (reported as sessionBytes). */
  readonly bytes?: number;
  /** Budgets the budget watcher checks (as the manifest would carry them). */
  readonly budgets?: WatchedBudgets;
}

export interface SimTelemetryOptions {
  readonly deviceId: string;
  readonly profile: DeviceProfile;
  readonly link: AgentLink;
  /** Outbox and sequence state live under `<dataDir>/telemetry`. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly clockSource?: 'system' | 'virtual';
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Window length, ms; 0: only `closeWindow()`. Default 10 000. */
  readonly windowMs?: number;
  /** Modelled inferences per second. Default 5. */
  readonly ratePerS?: number;
  /** What serves at start (null: nothing, windows carry no latency). */
  readonly model?: SimulatedModel | null;
  readonly watcher?: { readonly k?: number; readonly n?: number };
  readonly outbox?: { readonly maxEntries?: number; readonly maxBytes?: number; readonly segmentEntries?: number };
  /**
   * Scheduled faults' effects now (thermal throttling slows, a wrong int8 unit lowers int8 golden accuracy), on top of
   * `condition`.
   */
  readonly effects?: () => FaultEffects;
  /**
   * When an outbox entry counts as delivered. Default `server-ack`, as on a real agent: the
   * edgefleet server acknowledges what it stored. `broker-ack` only for a farm aimed at a
   * broker with no edgefleet server behind it.
   */
  readonly delivery?: TelemetryDelivery;
  /** `server-ack`: wait for the server's acknowledgement before sending again, ms. Default 15 000. */
  readonly ackTimeoutMs?: number;
}

export interface SimTelemetry {
  readonly telemetry: Telemetry;
  readonly condition: DeviceCondition;
  /** Changes what the device serves (a simulated deployment). */
  setModel(model: SimulatedModel | null): void;
  model(): SimulatedModel | null;
}

/** Simulated memory: a fixed runtime baseline plus the model bytes. */
const BASELINE_RSS_BYTES = 64 * 1024 * 1024;

/** A standard normal sample from two uniforms (Box–Muller), so jitter follows the seed. */
function gaussian(random: RandomSource): number {
  const u = Math.max(random(), 1e-12);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

export function createSimTelemetry(options: SimTelemetryOptions): SimTelemetry {
  const { profile, random } = options;
  const condition: DeviceCondition = { speedFactor: 1, accuracyOffset: 0, throttled: false };
  const ratePerS = options.ratePerS ?? 5;
  const effects = options.effects ?? (() => NO_FAULT);
  let model: SimulatedModel | null = options.model ?? null;

  /** Golden accuracy now: the variant's, shifted by the condition, or what a wrong int8 unit gets. */
  function goldenNow(m: SimulatedModel): number | undefined {
    const wrongInt8 = m.precision === 'int8' ? effects().int8Accuracy : null;
    if (wrongInt8 !== null) return wrongInt8;
    return m.goldenAccuracy === undefined ? undefined : clamp01(m.goldenAccuracy + condition.accuracyOffset);
  }

  /** One modelled inference latency, ms; `slowdown` is the scheduled faults' at this window. */
  function sampleLatency(m: SimulatedModel, slowdown: number): number {
    const multiplier = profile.speed.latencyMultiplier[m.precision] ?? profile.speed.latencyMultiplier.fp32 ?? 1;
    const mean = m.hostLatencyMs * multiplier * Math.max(0, condition.speedFactor) * slowdown;
    return Math.max(mean * 0.05, mean * (1 + (profile.speed.jitterPct / 100) * gaussian(random)));
  }

  const telemetry: Telemetry = createTelemetry({
    deviceId: options.deviceId,
    deviceClass: profile.class,
    dataDir: options.dataDir,
    clock: options.clock,
    clockSource: options.clockSource ?? 'virtual',
    logger: options.logger,
    ...stripUndefined({
      windowMs: options.windowMs,
      watcher: options.watcher,
      outbox: options.outbox,
      delivery: options.delivery,
      ackTimeoutMs: options.ackTimeoutMs,
    }),
    transport: createLinkTransport(options.link, options.logger),
    model: () => (model ? { sha256: model.sha256, variantId: model.variantId } : null),
    budgets: () => model?.budgets ?? null,
    readers: {
      power: createModelledPowerSource(
        () => ({ idleW: profile.power.idleW, activeW: activePowerW(profile, model?.precision) }),
        'profile',
      ),
      thermal: { begin: () => undefined, end: () => ({ throttled: condition.throttled || effects().throttled }) },
      rssBytes: () => BASELINE_RSS_BYTES + (model?.bytes ?? 0),
      sessionBytes: () => model?.bytes,
      golden: () => {
        const accuracy = model ? goldenNow(model) : undefined;
        return accuracy === undefined ? undefined : { accuracy, at: options.clock.now() };
      },
    },
    beforeClose: (start, end) => {
      const m = model;
      if (!m) return;
      // Sampled, not run: the window gets rate × duration inferences of modelled latency.
      const count = Math.round((ratePerS * Math.max(0, end - start)) / 1000);
      const confidence = m.confidence ?? m.goldenAccuracy;
      const slowdown = effects().slowdown;
      for (let i = 0; i < count; i += 1) {
        telemetry.recordInference(
          sampleLatency(m, slowdown),
          undefined,
          confidence === undefined ? undefined : clamp01(confidence + condition.accuracyOffset),
        );
      }
    },
  });

  return {
    telemetry,
    condition,
    setModel: (next) => {
      model = next;
    },
    model: () => model,
  };
}

/** Where a farm device keeps its telemetry state. */
export function simDataDir(farmDataDir: string, deviceId: string): string {
  return join(farmDataDir, deviceId);
}
