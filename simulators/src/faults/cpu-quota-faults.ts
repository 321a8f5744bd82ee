/**
 * cpu-quota faults carried out on real processes: each targeted process gets its own cgroup
 * (faults/cpu-cgroup.ts) when the schedule starts, with no quota, so its before, during and
 * after are measured in the same place; at each fault boundary on the given clock the group's
 * quota becomes the tightest cpu-quota fault then in force (or none). A process may host
 * several devices (a real-inference farm hosts them all): a quota then throttles all of them,
 * so a schedule that treats devices of one process differently is refused rather than applied
 * to some of them silently.
 */
import type { Clock } from '@edgefleet/agent';
import { EdgefleetError } from '@edgefleet/shared';
import { createCpuQuotaGroup, detectCpuCgroup, type CpuCgroupSupport, type CpuQuotaGroup } from './cpu-cgroup.js';
import { effectsAt, type Fault } from './faults.js';

/** A device living in a real process. */
export interface DeviceProcess {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly pid: number;
}

/** What the schedule did to one process at one boundary. */
export interface QuotaChange {
  readonly pid: number;
  readonly deviceIds: readonly string[];
  /** Cores now (null: no quota). */
  readonly cores: number | null;
  readonly periodMs: number;
  readonly at: number;
}

export interface CpuQuotaFaults {
  /** The group of each throttled process, by pid. */
  readonly groups: ReadonlyMap<number, CpuQuotaGroup>;
  /** Cancels the pending boundaries and removes every group (processes go back to the root). Idempotent. */
  stop(): void;
}

export interface CpuQuotaFaultOptions {
  readonly faults: readonly Fault[];
  readonly processes: readonly DeviceProcess[];
  readonly clock: Clock;
  /** Called after each quota change. */
  readonly onChange?: (change: QuotaChange) => void;
  /** Where cgroups are (default: detected now). */
  readonly support?: CpuCgroupSupport;
}

type QuotaFault = Extract<Fault, { kind: 'cpu-quota' }>;

const isQuota = (f: Fault): f is QuotaFault => f.kind === 'cpu-quota';

function targets(f: Fault, p: DeviceProcess): boolean {
  if (f.target.deviceIds !== undefined && !f.target.deviceIds.includes(p.deviceId)) return false;
  return f.target.deviceClass === undefined || f.target.deviceClass === p.deviceClass;
}

/** Devices per pid, refusing a quota fault that targets only some devices of one process. */
function processesOf(faults: readonly QuotaFault[], processes: readonly DeviceProcess[]): Map<number, DeviceProcess[]> {
  const byPid = new Map<number, DeviceProcess[]>();
  for (const p of processes) byPid.set(p.pid, [...(byPid.get(p.pid) ?? []), p]);
  for (const [pid, devices] of byPid) {
    for (const f of faults) {
      const hit = devices.filter((d) => targets(f, d));
      if (hit.length > 0 && hit.length < devices.length) {
        const missed = devices.filter((d) => !targets(f, d)).map((d) => d.deviceId);
        throw new EdgefleetError(
          'EF_ERR_FAULT_CGROUP',
          `a cpu-quota fault targets ${hit.map((d) => d.deviceId).join(', ')} but not ${missed.join(', ')}, ` +
            `which run in the same process (pid ${pid}); a CPU quota throttles a whole process: ` +
            'target all of its devices, or run the devices as separate processes',
          { pid },
        );
      }
    }
    if (!faults.some((f) => devices.some((d) => targets(f, d)))) byPid.delete(pid);
  }
  return byPid;
}

/**
 * Starts carrying out the cpu-quota faults of `faults` on `processes`; the other kinds are
 * ignored. Throws EF_ERR_FAULT_CGROUP before touching anything when a quota cannot be applied.
 */
export function startCpuQuotaFaults(options: CpuQuotaFaultOptions): CpuQuotaFaults {
  const quotas = options.faults.filter(isQuota);
  const byPid = processesOf(quotas, options.processes);
  const groups = new Map<number, CpuQuotaGroup>();
  const timers: ReturnType<Clock['setTimeout']>[] = [];
  const stop = (): void => {
    for (const t of timers.splice(0)) options.clock.clearTimeout(t);
    for (const g of groups.values()) g.remove();
    groups.clear();
  };
  if (byPid.size === 0) return { groups, stop };
  const support = options.support ?? detectCpuCgroup();
  try {
    for (const [pid, devices] of byPid) {
      const group = createCpuQuotaGroup(
        devices.length === 1 ? (devices[0] as DeviceProcess).deviceId : `pid${pid}`,
        support,
      );
      groups.set(pid, group);
      group.add(pid);
    }
  } catch (err: unknown) {
    stop();
    throw err;
  }
  const apply = (): void => {
    const at = options.clock.now();
    for (const [pid, devices] of byPid) {
      const first = devices[0] as DeviceProcess;
      const quota = effectsAt(quotas, first.deviceId, first.deviceClass, at).cpuQuota;
      const group = groups.get(pid);
      if (!group) continue;
      group.setQuota(quota?.cores ?? null, quota?.periodMs ?? 100);
      options.onChange?.({
        pid,
        deviceIds: devices.map((d) => d.deviceId),
        cores: quota?.cores ?? null,
        periodMs: quota?.periodMs ?? 100,
        at,
      });
    }
  };
  const now = options.clock.now();
  const boundaries = new Set<number>();
  for (const f of quotas) {
    boundaries.add(f.startAt);
    if (f.durationMs !== undefined) boundaries.add(f.startAt + f.durationMs);
  }
  for (const at of [...boundaries].sort((a, b) => a - b))
    if (at >= now) timers.push(options.clock.setTimeout(apply, at - now));
  if (quotas.some((f) => f.startAt < now)) apply();
  return { groups, stop };
}
