/**
 * Sampled inference for large farms: one measurement per variant (its host p95 from a shared
 * session, e.g. the planner's) and every device scales it by its class speed factor, its own
 * seeded jitter and its faults (thermal throttling, a wrong int8 accelerator, …). Time is a
 * virtual clock advanced by the caller, so a scenario of tens of minutes runs in seconds and
 * replays exactly for a seed. Devices speak the real protocol messages (hello, telemetry,
 * deploy reports out; desired manifests in) through a transport the caller gives: MQTT, or a
 * loopback in tests.
 *
 * Not simulated here: manifest signatures are not verified and chunks are not fetched; an
 * install takes `installMs` plus the artifact's bytes over the link speed.
 */
import { decodeMessage, deviceTopic, PROTOCOL_VERSION, type Desired, type TelemetryWindow } from '@edgefleet/shared';
import { effectsAt, type Fault } from '../faults/faults.js';
import { createSeededRandom, deriveSeed } from '../random.js';

export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';

/** A device class as the simulator needs it (a subset of the shared class spec). */
export interface SampledClass {
  readonly name: string;
  readonly precisions: readonly Precision[];
  /** Device ÷ host latency per precision (the class speed model taken as the device's truth). */
  readonly factors: Partial<Record<Precision, number>>;
  readonly idleW: number;
  readonly activeW: Partial<Record<Precision, number>>;
  readonly cores: number;
  readonly memoryBytes: number;
}

/** One variant's shared measurement. */
export interface SampledVariant {
  readonly precision: Precision;
  readonly hostP95Ms: number;
  /** Golden-set accuracy 0..1 on a correct device. */
  readonly accuracy: number;
  readonly bytes: number;
}

export interface SampledFleetOptions {
  readonly classes: readonly SampledClass[];
  readonly devicesPerClass: number;
  readonly seed?: number;
  /** Virtual start time, ms. */
  readonly startAt: number;
  /** Telemetry window, ms. Default 10000. */
  readonly windowMs?: number;
  /** Inferences per second per device. Default 2. */
  readonly workloadHz?: number;
  /** Per-window latency jitter, ± percent. Default 5. */
  readonly jitterPct?: number;
  readonly installMs?: number;
  /** Windows kept while offline; the oldest are dropped beyond it. Default 500. */
  readonly outboxLimit?: number;
  readonly faults?: readonly Fault[];
  readonly idPrefix?: string;
  /** The shared measurement of a variant by sha256 (null: unknown, the install fails). */
  readonly variant: (sha256: string) => SampledVariant | null;
  /** Device → server. */
  readonly send: (topic: string, payload: Buffer) => void;
}

interface SimDevice {
  readonly deviceId: string;
  readonly cls: SampledClass;
  readonly random: () => number;
  seq: number;
  nextWindowEnd: number;
  serving: { sha256: string; variantId: string } | null;
  outbox: TelemetryWindow[];
  dropped: number;
}

interface PendingInstall { readonly deviceId: string; at: number; readonly desired: Desired }

export interface SampledFleet {
  readonly deviceIds: readonly string[];
  classOf(deviceId: string): string;
  serving(deviceId: string): string | null;
  /** Sends every device's hello (call once the transport is ready). */
  start(): void;
  /** Server → device messages (desired manifests); others are ignored. */
  handleMessage(topic: string, payload: Buffer): void;
  /** Runs the virtual clock to `to`: windows and installs in time order. */
  advance(to: number): void;
  now(): number;
}

export function createSampledFleet(o: SampledFleetOptions): SampledFleet {
  const windowMs = o.windowMs ?? 10_000;
  const seed = o.seed ?? 1;
  const faults = o.faults ?? [];
  const devices = new Map<string, SimDevice>();
  const pending: PendingInstall[] = [];
  let clock = o.startAt;
  for (const cls of o.classes) {
    for (let i = 1; i <= o.devicesPerClass; i += 1) {
      const deviceId = `${o.idPrefix ?? 'sim'}-${cls.name}-${String(i).padStart(2, '0')}`;
      const random = createSeededRandom(deriveSeed(seed, deviceId));
      devices.set(deviceId, { deviceId, cls, random, seq: 0, nextWindowEnd: o.startAt + Math.floor(random() * windowMs) + 1, serving: null, outbox: [], dropped: 0 });
    }
  }
  const send = (deviceId: string, channel: 'hello' | 'telemetry' | 'events', msg: unknown): void => o.send(deviceTopic(deviceId, channel), Buffer.from(JSON.stringify(msg)));

  function hello(d: SimDevice): void {
    send(d.deviceId, 'hello', {
      type: 'hello', v: PROTOCOL_VERSION, deviceId: d.deviceId, deviceClass: d.cls.name, agentVersion: 'sim-sampled',
      runtime: { node: process.version, onnxruntime: 'sampled' },
      capabilities: { cpuModel: `simulated ${d.cls.name}`, cores: d.cls.cores, memoryBytes: d.cls.memoryBytes, executionProviders: ['cpu'], precisions: [...d.cls.precisions], powerSource: 'modelled' },
      currentModel: d.serving?.sha256 ?? null, sentAt: clock,
    });
  }

  function windowOf(d: SimDevice, end: number): TelemetryWindow | null {
    const fx = effectsAt(faults, d.deviceId, d.cls.name, end);
    if (fx.crashed) return null;
    const v = d.serving ? o.variant(d.serving.sha256) : null;
    const inferences = v ? Math.round(((o.workloadHz ?? 2) * windowMs) / 1000) : 0;
    const jitter = 1 + ((o.jitterPct ?? 5) / 100) * (d.random() * 2 - 1);
    const p95 = v ? v.hostP95Ms * (d.cls.factors[v.precision] ?? 1) * fx.slowdown * jitter : 0;
    const meanMs = p95 * 0.85;
    const duty = Math.min(1, (inferences * meanMs) / windowMs);
    const activeW = v ? (d.cls.activeW[v.precision] ?? d.cls.idleW) : d.cls.idleW;
    const skewed = end + fx.skewMs;
    d.seq += 1;
    const golden = v ? (v.precision === 'int8' && fx.int8Accuracy !== null ? fx.int8Accuracy : v.accuracy) : undefined;
    return {
      type: 'telemetry', v: PROTOCOL_VERSION, deviceId: d.deviceId, deviceClass: d.cls.name, seq: d.seq,
      windowStart: skewed - windowMs, windowEnd: skewed, model: d.serving, inferences, errors: 0,
      latencyMs: v ? { p50: p95 * 0.8, p95, p99: p95 * 1.15, max: p95 * 1.3, mean: meanMs } : null,
      dutyCycle: duty,
      power: { watts: d.cls.idleW + (activeW - d.cls.idleW) * duty, energyPerInferenceMj: v ? activeW * meanMs : null, source: 'modelled', sensor: 'profile' },
      accuracy: golden === undefined ? {} : { goldenAccuracy: golden, goldenAt: skewed },
      memory: { rssBytes: 60_000_000 + (v?.bytes ?? 0), ...(v ? { sessionBytes: v.bytes } : {}) },
      thermal: { cpuTempC: fx.throttled ? 88 : 55, throttled: fx.throttled },
      clock: { source: 'virtual', durationMs: windowMs },
      outbox: { droppedTotal: d.dropped, pending: d.outbox.length },
      sentAt: skewed,
    };
  }

  function emitWindow(d: SimDevice, end: number): void {
    const w = windowOf(d, end);
    if (!w) return;
    if (!effectsAt(faults, d.deviceId, d.cls.name, end).online) {
      d.outbox.push(w);
      if (d.outbox.length > (o.outboxLimit ?? 500)) { d.outbox.shift(); d.dropped += 1; }
      return;
    }
    for (const queued of d.outbox.splice(0)) send(d.deviceId, 'telemetry', queued);
    send(d.deviceId, 'telemetry', w);
  }

  function install(p: PendingInstall): void {
    const d = devices.get(p.deviceId);
    if (!d) return;
    const fx = effectsAt(faults, d.deviceId, d.cls.name, p.at);
    if (fx.crashed || !fx.online) { p.at += windowMs; pending.push(p); return; }
    const body = p.desired.body;
    const ok = o.variant(body.artifact.sha256) !== null;
    if (ok) d.serving = { sha256: body.artifact.sha256, variantId: body.variantId };
    send(d.deviceId, 'events', {
      type: 'deploy-report', v: PROTOCOL_VERSION, deviceId: d.deviceId, deploymentId: body.deploymentId, rolloutId: body.rolloutId,
      variantId: body.variantId, sha256: body.artifact.sha256, state: ok ? (body.purpose === 'rollback' ? 'rolled-back' : 'succeeded') : 'failed',
      ...(ok ? {} : { failure: { step: 'load', reason: 'load-failed', detail: 'the sampled simulator has no measurement of this variant' } }),
      chunks: { total: body.artifact.chunks.length, fetched: body.artifact.chunks.length, reused: 0, corrupt: 0 },
      serving: d.serving?.sha256 ?? null, sentAt: p.at + fx.skewMs,
    });
  }

  return {
    deviceIds: [...devices.keys()],
    classOf: (id) => devices.get(id)?.cls.name ?? '',
    serving: (id) => devices.get(id)?.serving?.sha256 ?? null,
    now: () => clock,
    start() { for (const d of devices.values()) hello(d); },
    handleMessage(topic, payload) {
      if (payload.length === 0) return;
      const decoded = decodeMessage(topic, payload);
      if (!decoded.ok || decoded.message.type !== 'desired') return;
      const desired = decoded.message;
      const d = devices.get(desired.deviceId);
      if (!d) return;
      const bps = effectsAt(faults, d.deviceId, d.cls.name, clock).linkBytesPerSecond;
      const transfer = bps === null ? 0 : (desired.body.artifact.size / bps) * 1000;
      pending.push({ deviceId: d.deviceId, at: clock + (o.installMs ?? 2000) + Math.round(transfer), desired });
    },
    advance(to) {
      for (;;) {
        const nextInstall = pending.reduce((m, p) => Math.min(m, p.at), Infinity);
        const nextDevice = [...devices.values()].reduce((m, d) => (d.nextWindowEnd < m.nextWindowEnd ? d : m));
        const at = Math.min(nextInstall, nextDevice.nextWindowEnd);
        if (at > to) break;
        clock = at;
        if (nextInstall <= nextDevice.nextWindowEnd) {
          const i = pending.findIndex((p) => p.at === nextInstall);
          install(pending.splice(i, 1)[0] as PendingInstall);
        } else {
          emitWindow(nextDevice, at);
          nextDevice.nextWindowEnd += windowMs;
        }
      }
      clock = to;
    },
  };
}
