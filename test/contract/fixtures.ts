/** Plain valid records for the repository contract suite: what services would store. */
import {
  PROTOCOL_VERSION,
  type Breach,
  type DecisionView,
  type GoldenSet,
  type Hello,
  type Plan,
  type TelemetryWindow,
} from '@edgefleet/shared';
import { rolloutPolicySchema, type RolloutDevice, type RolloutRecord } from '@edgefleet/server/deploy/index';
import type { ClassProfile } from '@edgefleet/server/store/classes';
import { BUILTIN_CLASS_PROFILES } from '@edgefleet/server/plan/index';
import { EMPTY_MEMORY } from '@edgefleet/server/control/index';

export const sha = (c: string): string => c.repeat(64);

export const hello = (deviceId: string, deviceClass = 'rpi4', currentModel: string | null = null): Hello => ({
  type: 'hello',
  v: PROTOCOL_VERSION,
  deviceId,
  deviceClass,
  agentVersion: '0.1.0',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'cpu',
    cores: 4,
    memoryBytes: 1024,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel,
  sentAt: 100,
});

/** A configured class document, from the rpi4 built-in profile. */
export function classDoc(): { profile: ClassProfile; budgets: { maxP95LatencyMs: number }; description: string } {
  const base = BUILTIN_CLASS_PROFILES.get('rpi4');
  if (!base) throw new Error('no rpi4 profile');
  return {
    description: base.description,
    profile: {
      capabilities: base.capabilities,
      speedModel: base.speedModel,
      powerModel: base.powerModel,
      sources: base.sources,
    },
    budgets: { maxP95LatencyMs: 50 },
  };
}

export function planBody(deviceClass: string, modelSha: string): Plan {
  return {
    type: 'plan',
    v: 1,
    model: { sha256: modelSha, name: 'm', evalSpec: 'random:8' },
    deviceClass: { name: deviceClass, version: 1 },
    speedModel: { version: 'builtin-1', status: 'modelled', factors: { fp32: 10 }, override: null },
    budgets: { maxP95LatencyMs: 50 },
    recipes: ['fp32'],
    baseline: { recipe: 'fp32', accuracyPct: 97 },
    candidates: [],
    front: [],
    outcome: 'no-feasible-variant',
    chosen: null,
    reason: 'contract fixture',
  };
}

export const GOLDEN: GoldenSet = {
  inputs: { x: { dims: [1, 1], data: Buffer.from(new Float32Array([0]).buffer).toString('base64') } },
  labels: [0],
  minAccuracy: 0,
};

export function rollout(id: string, deviceClass: string, over: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    id,
    deviceClass,
    variantId: `v-${id}`,
    artifactSha: sha('a'),
    golden: GOLDEN,
    budgets: { latencyP95Ms: 20 },
    policy: rolloutPolicySchema.parse({}),
    state: 'in-progress',
    currentWave: 0,
    waveCount: 2,
    reason: null,
    createdAt: 1000,
    updatedAt: 1000,
    finishedAt: null,
    ...over,
  };
}

export function rolloutDevice(rolloutId: string, deviceId: string, index: number, over: Partial<RolloutDevice> = {}) {
  const device: RolloutDevice = {
    rolloutId,
    deviceId,
    wave: index === 0 ? 0 : 1,
    state: 'pending',
    deploymentId: `${rolloutId}.d${index}`,
    previous: null,
    rollbackId: null,
    agentState: null,
    failure: null,
    notifiedAt: null,
    rollbackAt: null,
    finishedAt: null,
    updatedAt: 1000,
    ...over,
  };
  return device;
}

export const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);

export function win(deviceId: string, seq: number, p95: number, extra: Partial<TelemetryWindow> = {}): TelemetryWindow {
  const end = T0 + (seq + 1) * 10_000;
  return {
    type: 'telemetry',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    seq,
    windowStart: end - 10_000,
    windowEnd: end,
    model: { sha256: sha('b'), variantId: 'v-int8' },
    inferences: 20,
    errors: 0,
    latencyMs: { p50: p95 / 2, p95, p99: p95, max: p95, mean: p95 / 2 },
    dutyCycle: 0.2,
    power: { watts: 4, energyPerInferenceMj: 2000, source: 'modelled', sensor: 'profile' },
    accuracy: { goldenAccuracy: 0.95, goldenAt: end },
    memory: { rssBytes: 1000 },
    thermal: { throttled: false },
    clock: { source: 'virtual', durationMs: 10_000 },
    outbox: { droppedTotal: 0, pending: 0 },
    sentAt: end,
    ...extra,
  };
}

export function breach(deviceId: string, windowSeqs: number[], state: Breach['state'] = 'breached'): Breach {
  return {
    type: 'breach',
    v: PROTOCOL_VERSION,
    deviceId,
    deviceClass: 'rpi4',
    budget: 'latencyP95Ms',
    state,
    measured: 70,
    limit: 50,
    unit: 'ms',
    breachedWindows: 3,
    k: 3,
    n: 5,
    windowSeqs,
    model: { sha256: sha('b'), variantId: 'v-int8' },
    throttled: false,
    sentAt: T0,
  };
}

export function decision(id: string, deviceClass: string, at: number, kind: DecisionView['kind']) {
  return {
    id,
    deviceClass,
    at,
    kind,
    reason: `${kind} at ${at}`,
    budgets: ['latencyP95Ms' as const],
    summary: {
      activeDevices: 2,
      breachingDevices: 1,
      throttledDevices: 0,
      fractions: { latencyP95Ms: 0.5 },
      currentRecipe: 'fp32',
      currentSha: sha('c'),
      latencyRatio: 1.2,
      planId: 1,
    },
    actions: [],
  };
}

export const memory = (breachingSince: number | null) => ({ ...EMPTY_MEMORY, breachingSince });
