/**
 * Simulator faults, scheduled per device or per class, as data. `effectsAt` folds every fault
 * active at a moment into what a device experiences then; pure, so a scenario replays exactly.
 */
import { z } from 'zod';

const targetSchema = z
  .strictObject({
    deviceClass: z.string().min(1).optional(),
    deviceIds: z.array(z.string().min(1)).min(1).optional(),
  })
  .refine(
    (t) => t.deviceClass !== undefined || t.deviceIds !== undefined,
    'a fault targets a deviceClass or deviceIds',
  );

const base = {
  target: targetSchema,
  startAt: z.number().int().nonnegative(),
  durationMs: z.number().int().positive().optional(),
};

/** Fault schedule entries; `startAt` is ms on the fleet's clock, `durationMs` absent = until the end. */
export const faultSchema = z.discriminatedUnion('kind', [
  /** Speed drops linearly to 1/`slowdown` over `rampMs` (thermal throttling takes minutes). */
  z.strictObject({
    kind: z.literal('thermal-throttle'),
    ...base,
    slowdown: z.number().min(1).max(100),
    rampMs: z.number().int().nonnegative().default(120_000),
  }),
  /** An accelerator computing int8 wrongly: golden-set accuracy of int8 variants falls to `accuracy`. */
  z.strictObject({ kind: z.literal('int8-wrong'), ...base, accuracy: z.number().min(0).max(1).default(0.35) }),
  /** No link: windows go to the device's outbox and are flushed in order on reconnect. */
  z.strictObject({ kind: z.literal('disconnect'), ...base }),
  /** Downloads at `bytesPerSecond`. */
  z.strictObject({ kind: z.literal('slow-link'), ...base, bytesPerSecond: z.number().positive() }),
  /** The process is down: no windows, no installs; it restarts when the fault ends. */
  z.strictObject({ kind: z.literal('crash'), ...base }),
  /** The device clock runs `skewMs` ahead (negative: behind). */
  z.strictObject({ kind: z.literal('clock-skew'), ...base, skewMs: z.number().int() }),
  /**
   * A real CPU limit on the device's process through the host's cgroups (faults/cpu-cgroup.ts):
   * at most `cores` of CPU (0.25: a quarter of one core) per `periodMs` (the kernel's CFS period;
   * default 100, as Docker's `--cpus`). Real processes only (agent processes, a real-inference farm);
   * refused, never modelled, where cgroups are not writable.
   */
  z.strictObject({
    kind: z.literal('cpu-quota'),
    ...base,
    cores: z.number().min(0.01).max(1024),
    periodMs: z.number().int().min(1).max(1000).default(100),
  }),
]);
export type Fault = z.infer<typeof faultSchema>;
export type FaultInput = z.input<typeof faultSchema>;

/** What a device experiences at one moment. */
export interface FaultEffects {
  /** Latency multiplier (1: none). */
  readonly slowdown: number;
  readonly throttled: boolean;
  /** Golden accuracy of int8 variants, when an int8 fault is active. */
  readonly int8Accuracy: number | null;
  readonly online: boolean;
  readonly crashed: boolean;
  readonly linkBytesPerSecond: number | null;
  readonly skewMs: number;
  /** The tightest CPU quota in force on the device's process (cpu-quota faults), or null. */
  readonly cpuQuota: { readonly cores: number; readonly periodMs: number } | null;
}

export const NO_FAULT: FaultEffects = Object.freeze({
  slowdown: 1,
  throttled: false,
  int8Accuracy: null,
  online: true,
  crashed: false,
  linkBytesPerSecond: null,
  skewMs: 0,
  cpuQuota: null,
});

export function parseFaults(input: readonly FaultInput[]): Fault[] {
  return input.map((f) => faultSchema.parse(f));
}

function applies(f: Fault, deviceId: string, deviceClass: string, at: number): boolean {
  if (at < f.startAt || (f.durationMs !== undefined && at >= f.startAt + f.durationMs)) return false;
  if (f.target.deviceIds !== undefined && !f.target.deviceIds.includes(deviceId)) return false;
  return f.target.deviceClass === undefined || f.target.deviceClass === deviceClass;
}

/** Every active fault folded into one set of effects. */
export function effectsAt(faults: readonly Fault[], deviceId: string, deviceClass: string, at: number): FaultEffects {
  let e: FaultEffects = NO_FAULT;
  for (const f of faults) {
    if (!applies(f, deviceId, deviceClass, at)) continue;
    switch (f.kind) {
      case 'thermal-throttle': {
        const progress = f.rampMs === 0 ? 1 : Math.min(1, (at - f.startAt) / f.rampMs);
        e = { ...e, slowdown: e.slowdown * (1 + (f.slowdown - 1) * progress), throttled: true };
        break;
      }
      case 'int8-wrong':
        e = { ...e, int8Accuracy: f.accuracy };
        break;
      case 'disconnect':
        e = { ...e, online: false };
        break;
      case 'slow-link':
        e = { ...e, linkBytesPerSecond: f.bytesPerSecond };
        break;
      case 'crash':
        e = { ...e, crashed: true, online: false };
        break;
      case 'clock-skew':
        e = { ...e, skewMs: e.skewMs + f.skewMs };
        break;
      case 'cpu-quota':
        if (e.cpuQuota === null || f.cores < e.cpuQuota.cores)
          e = { ...e, cpuQuota: { cores: f.cores, periodMs: f.periodMs } };
        break;
    }
  }
  return e;
}
