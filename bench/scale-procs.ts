/**
 * CPU and RSS of the processes of `npm run bench:scale`, read from /proc (Linux): a role
 * (`replica a`, `farm 2`, `mosquitto`, `postgres`) is a process and, for Postgres, every
 * backend the postmaster forked. CPU is user + system time over an interval, as % of one core.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on (`getconf CLK_TCK`). */
const TICKS_PER_S = 100;

interface ProcSample {
  readonly ticks: number;
  readonly rssKB: number;
}

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function sample(pid: number): ProcSample | null {
  const f = statFields(pid);
  if (!f) return null;
  // After the name: state(0) ppid(1) … utime(11) stime(12) … rss in pages(21).
  return { ticks: Number(f[11]) + Number(f[12]), rssKB: Number(f[21]) * 4 };
}

/** Direct children of `pid` (Postgres backends are children of the postmaster). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** The process whose command line holds every one of `parts` (the postmaster: its binary and port). */
export function findProcess(parts: readonly string[]): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (parts.every((p) => cmd.includes(p))) return Number(name);
    } catch {
      // The process ended while we looked.
    }
  }
  return null;
}

export interface RoleUsage {
  readonly role: string;
  readonly processes: number;
  readonly cpuPctOfOneCore: number;
  readonly rssMB: number;
}

/** A set of roles measured from `start()` to `stop()`; RSS is the last sample's. */
export function meterRoles(roles: ReadonlyMap<string, () => number[]>) {
  let t0 = 0;
  const ticks0 = new Map<number, number>();
  return {
    start(): void {
      t0 = performance.now();
      for (const pids of roles.values()) for (const pid of pids()) ticks0.set(pid, sample(pid)?.ticks ?? 0);
    },
    stop(): RoleUsage[] {
      const seconds = (performance.now() - t0) / 1000;
      return [...roles].map(([role, pids]) => {
        let ticks = 0;
        let rssKB = 0;
        const list = pids();
        for (const pid of list) {
          const s = sample(pid);
          if (!s) continue;
          // A backend forked during the interval counts from zero.
          ticks += s.ticks - (ticks0.get(pid) ?? 0);
          rssKB += s.rssKB;
        }
        return {
          role,
          processes: list.length,
          cpuPctOfOneCore: Math.round((ticks / TICKS_PER_S / seconds) * 100),
          rssMB: Math.round(rssKB / 1024),
        };
      });
    },
  };
}
