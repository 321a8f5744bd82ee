/**
 * Real CPU throttling of chosen processes through the host's cgroup `cpu` controller: the
 * quota of cgroup v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`) or v2 (`cpu.max`), the
 * kernel's CFS bandwidth control, which is what `docker run --cpus=0.25` sets. A process in a
 * group with a quota of 0.25 of a core gets at most 25 ms of CPU per 100 ms period (all its
 * threads together); when it wants more, it is stopped until the next period. So a quota slows
 * a process only while it demands more CPU than the quota; a mostly idle process does not
 * notice it (unlike a lower clock, which slows every instruction).
 *
 * Nothing here is modelled: where the controller is missing or not writable (not Linux, not
 * root, no cpu controller mounted, a read-only cgroupfs) `detectCpuCgroup` says why and
 * `createCpuQuotaGroup` refuses with EF_ERR_FAULT_CGROUP. Groups are named
 * `edgefleet-<owner pid>-<label>` under the controller's root; every group this process
 * creates is removed (its processes moved back to the root first) by `remove()`, by
 * `removeAllCpuQuotaGroups()`, and at process exit; a group left by an owner that died
 * without cleaning up (SIGKILL) is swept by the next creation.
 *
 * All file operations are synchronous on purpose: they are a few small writes to cgroupfs, and
 * the exit hook may only run synchronous code.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgefleetError, asError, errnoCode } from '@edgefleet/shared';

export type CgroupVersion = 'v1' | 'v2';

/** Whether this process can throttle others through cgroups, and where; else why not. */
export type CpuCgroupSupport =
  | { readonly ok: true; readonly version: CgroupVersion; readonly root: string }
  | { readonly ok: false; readonly reason: string };

interface Mount {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

/** Mounts from `/proc/self/mountinfo` text (`id parent dev root mountpoint opts [tags] - fstype source superopts`). */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, , superOptions] = right.split(' ');
    if (mountPoint === undefined || fsType === undefined) continue;
    // mountinfo escapes spaces and a few other characters as octal.
    const unescaped = mountPoint.replace(/\\([0-7]{3})/g, (_, oct: string) =>
      String.fromCharCode(Number.parseInt(oct, 8)),
    );
    mounts.push({ mountPoint: unescaped, fsType, superOptions: (superOptions ?? '').split(',') });
  }
  return mounts;
}

const readText = (path: string): string => readFileSync(path, 'utf8').trim();

/** Where the cpu controller is: a v1 hierarchy with `cpu` (preferred: on hybrid hosts v1 owns it) or a v2 one. */
export function findCpuController(
  mounts: readonly Mount[],
  readFile: (path: string) => string = readText,
): { readonly version: CgroupVersion; readonly root: string } | { readonly reason: string } {
  const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('cpu'));
  if (v1) return { version: 'v1', root: v1.mountPoint };
  for (const m of mounts.filter((x) => x.fsType === 'cgroup2')) {
    let controllers = '';
    try {
      controllers = readFile(join(m.mountPoint, 'cgroup.controllers'));
    } catch {
      continue;
    }
    if (controllers.split(/\s+/).includes('cpu')) return { version: 'v2', root: m.mountPoint };
  }
  const v2 = mounts.some((m) => m.fsType === 'cgroup2');
  return {
    reason: v2
      ? 'the cgroup v2 hierarchy does not offer the cpu controller (cgroup.controllers lacks cpu)'
      : 'no cgroup cpu controller is mounted (neither a v1 hierarchy with cpu nor cgroup v2)',
  };
}

const why = (err: unknown): string => errnoCode(err) ?? asError(err).message;

/** Can a group be made and throttled here? Probes by creating and removing an empty group. */
export function detectCpuCgroup(platform: NodeJS.Platform = process.platform): CpuCgroupSupport {
  if (platform !== 'linux') return { ok: false, reason: `cgroups are a Linux feature; this host is ${platform}` };
  let mounts: Mount[];
  try {
    mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch (err: unknown) {
    return { ok: false, reason: `/proc/self/mountinfo is not readable (${why(err)})` };
  }
  const found = findCpuController(mounts);
  if ('reason' in found) return { ok: false, reason: found.reason };
  const quotaFile = found.version === 'v1' ? 'cpu.cfs_quota_us' : 'cgroup.subtree_control';
  if (!existsSync(join(found.root, quotaFile)))
    return { ok: false, reason: `${join(found.root, quotaFile)} is missing (kernel without CFS bandwidth control?)` };
  if (found.version === 'v2') {
    const enabled = enableV2Cpu(found.root);
    if (enabled !== null) return { ok: false, reason: enabled };
  }
  const probe = join(found.root, `edgefleet-${process.pid}-probe`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (err: unknown) {
    if (errnoCode(err) !== 'EEXIST')
      return {
        ok: false,
        reason:
          `cannot create a cgroup under ${found.root} ` +
          `(${why(err)}${process.getuid?.() === 0 ? '' : '; not running as root'})`,
      };
  }
  return { ok: true, version: found.version, root: found.root };
}

/** cgroup v2: children of the root get the cpu controller only when the root delegates it; null when it does. */
function enableV2Cpu(root: string): string | null {
  const control = join(root, 'cgroup.subtree_control');
  try {
    if (readText(control).split(/\s+/).includes('cpu')) return null;
    writeFileSync(control, '+cpu');
    return null;
  } catch (err: unknown) {
    return `the cpu controller is not enabled for children of ${root} and cannot be (${why(err)})`;
  }
}

/** A cgroup holding processes under a CPU quota that can change at any time. */
export interface CpuQuotaGroup {
  readonly name: string;
  readonly path: string;
  readonly version: CgroupVersion;
  /** Moves a process (all its threads, and later children) into the group. */
  add(pid: number): void;
  /** Sets the quota in cores (0.25: a quarter of one core) per `periodMs` (default 100); null lifts it. */
  setQuota(cores: number | null, periodMs?: number): void;
  /**
   * The group's share of CPU under contention, relative to one ordinary process (1: the
   * kernel default, cpu.shares 1024 on v1, cpu.weight 100 on v2). A scenario on a shared host
   * raises it so that the quota, not the neighbours' load, is what limits its processes.
   */
  setWeight(relative: number): void;
  /** The quota now, cores (null: none). */
  quotaCores(): number | null;
  /** The kernel's throttling counters of the group (cpu.stat). */
  throttling(): { readonly periods: number; readonly throttled: number; readonly throttledMs: number };
  /** Moves the group's processes back where they were (else to the root) and deletes the group. Idempotent. */
  remove(): void;
}

const live = new Set<CpuQuotaGroup>();
let exitHookInstalled = false;

/** Removes every group this process created and has not removed yet (also runs at process exit). */
export function removeAllCpuQuotaGroups(): void {
  for (const g of [...live]) g.remove();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Sleeps synchronously (cgroup removal may need the kernel to finish reaping exited tasks). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The group a process is in now, relative to the controller's root (`/` when unknown). */
export function currentGroupOf(pid: number, version: CgroupVersion, read: (path: string) => string = readText): string {
  try {
    for (const line of read(`/proc/${pid}/cgroup`).split('\n')) {
      const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
      if (path === undefined) continue;
      if (version === 'v2' ? controllers === '' : (controllers ?? '').split(',').includes('cpu')) return path;
    }
  } catch {
    // Gone, or no /proc: the root.
  }
  return '/';
}

/**
 * Moves every process of `path` back (to where it came from,
 * else the root), then deletes it (retries while tasks exit).
 */
function deleteGroup(root: string, path: string, origins: ReadonlyMap<string, string> = new Map()): void {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    let procs: string[] = [];
    try {
      procs = readText(join(path, 'cgroup.procs')).split('\n').filter(Boolean);
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') return;
    }
    for (const pid of procs) {
      const home = join(root, origins.get(pid) ?? '/');
      try {
        writeFileSync(join(home, 'cgroup.procs'), pid);
      } catch {
        try {
          writeFileSync(join(root, 'cgroup.procs'), pid);
        } catch {
          // Exited meanwhile.
        }
      }
    }
    try {
      rmdirSync(path);
      return;
    } catch (err: unknown) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt === 19) throw err;
      pause(25);
    }
  }
}

/** Deletes groups whose owner process is gone (a run killed before it could clean up). */
export function sweepStaleCpuQuotaGroups(root: string): string[] {
  const swept: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return swept;
  }
  for (const name of names) {
    const owner = /^edgefleet-(\d+)-/.exec(name)?.[1];
    if (owner === undefined || pidAlive(Number(owner))) continue;
    try {
      deleteGroup(root, join(root, name));
      swept.push(name);
    } catch {
      // Left for the next sweep.
    }
  }
  return swept;
}

function refuse(message: string, cause?: unknown): never {
  throw new EdgefleetError(
    'EF_ERR_FAULT_CGROUP',
    `${message}. Run on Linux as root with the cgroup cpu controller mounted, or drop the cpu-quota fault ` +
      `(thermal-throttle models a slowdown instead)`,
    {},
    cause === undefined ? undefined : { cause },
  );
}

/** Creates (or takes over) `edgefleet-<pid>-<label>` with no quota; throws EF_ERR_FAULT_CGROUP where it cannot. */
export function createCpuQuotaGroup(label: string, support: CpuCgroupSupport = detectCpuCgroup()): CpuQuotaGroup {
  if (!support.ok) refuse(`cpu-quota faults need a writable cgroup cpu controller, and ${support.reason}`);
  const { version, root } = support;
  sweepStaleCpuQuotaGroups(root);
  const name = `edgefleet-${process.pid}-${label.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}`;
  const path = join(root, name);
  try {
    mkdirSync(path);
  } catch (err: unknown) {
    if (errnoCode(err) !== 'EEXIST') refuse(`cannot create the cgroup ${path} (${why(err)})`, err);
  }
  let cores: number | null = null;
  let removed = false;
  const origins = new Map<string, string>();
  const write = (file: string, value: string): void => {
    try {
      writeFileSync(join(path, file), value);
    } catch (err: unknown) {
      refuse(`cannot write ${value} to ${join(path, file)} (${why(err)})`, err);
    }
  };
  const group: CpuQuotaGroup = Object.freeze({
    name,
    path,
    version,
    add(pid: number) {
      const from = currentGroupOf(pid, version);
      if (from !== `/${name}`) origins.set(String(pid), from);
      write('cgroup.procs', String(pid));
    },
    setQuota(next: number | null, periodMs = 100) {
      const periodUs = Math.round(periodMs * 1000);
      if (next !== null && !(next > 0)) throw new RangeError(`a CPU quota must be above 0 cores, got ${next}`);
      // The kernel refuses periods outside 1 ms–1 s and quotas under 1 ms.
      if (periodUs < 1000 || periodUs > 1_000_000) throw new RangeError(`period must be 1–1000 ms, got ${periodMs}`);
      const quotaUs = next === null ? null : Math.max(1000, Math.round(next * periodUs));
      if (version === 'v2') write('cpu.max', `${quotaUs ?? 'max'} ${periodUs}`);
      else {
        write('cpu.cfs_quota_us', '-1');
        write('cpu.cfs_period_us', String(periodUs));
        if (quotaUs !== null) write('cpu.cfs_quota_us', String(quotaUs));
      }
      cores = next;
    },
    setWeight(relative: number) {
      if (!(relative > 0)) throw new RangeError(`a CPU weight must be above 0, got ${relative}`);
      if (version === 'v2') write('cpu.weight', String(Math.min(10_000, Math.max(1, Math.round(100 * relative)))));
      else write('cpu.shares', String(Math.max(2, Math.round(1024 * relative))));
    },
    quotaCores: () => cores,
    throttling() {
      const stat = Object.fromEntries(
        readText(join(path, 'cpu.stat'))
          .split('\n')
          .map((l) => l.split(' '))
          .map(([k, v]) => [k, Number(v)]),
      ) as Record<string, number>;
      const throttledMs = version === 'v2' ? (stat['throttled_usec'] ?? 0) / 1000 : (stat['throttled_time'] ?? 0) / 1e6;
      return { periods: stat['nr_periods'] ?? 0, throttled: stat['nr_throttled'] ?? 0, throttledMs };
    },
    remove() {
      if (removed) return;
      removed = true;
      live.delete(group);
      deleteGroup(root, path, origins);
    },
  });
  live.add(group);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const g of [...live]) {
        try {
          g.remove();
        } catch {
          // Exiting: nothing left to report to.
        }
      }
    });
  }
  return group;
}
