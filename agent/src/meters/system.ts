/**
 * Memory and thermal state where the OS exposes them: process RSS, CPU temperature from
 * `/sys/class/thermal`, and throttling from the CPUs' thermal-throttle counters or a
 * cpufreq ceiling below the hardware maximum. Roots are injectable for a fake sysfs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripUndefined } from '@edgefleet/shared/device';

export interface ThermalSysfs {
  /** Holds `thermal_zoneN/{type,temp}`. Default `/sys/class/thermal`. */
  readonly thermalDir: string;
  /** Holds `cpuN/{thermal_throttle,cpufreq}`. Default `/sys/devices/system/cpu`. */
  readonly cpuDir: string;
}

export const DEFAULT_THERMAL_SYSFS: ThermalSysfs = Object.freeze({
  thermalDir: '/sys/class/thermal',
  cpuDir: '/sys/devices/system/cpu',
});

/** A thermal reading; absent fields were not readable. */
export interface ThermalReading {
  readonly cpuTempC?: number;
  readonly throttled?: boolean;
}

/** Reads thermal state at window boundaries (`begin`, then `end` for the window's figure). */
export interface ThermalReader {
  begin(): void;
  end(): ThermalReading;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function readNumber(path: string): number | null {
  const text = readText(path);
  const value = text === null ? NaN : Number(text);
  return Number.isFinite(value) ? value : null;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The CPU zone's temperature in °C: a zone whose type names the CPU or package, else the first zone. */
export function readCpuTempC(thermalDir: string): number | null {
  const zones = list(thermalDir).filter((z) => /^thermal_zone\d+$/.test(z));
  const cpu =
    zones.find((z) => /x86_pkg_temp|cpu|soc|package/i.test(readText(join(thermalDir, z, 'type')) ?? '')) ?? zones[0];
  if (cpu === undefined) return null;
  const milli = readNumber(join(thermalDir, cpu, 'temp'));
  return milli === null ? null : Math.round(milli / 100) / 10;
}

/** Sum of every CPU's core and package throttle counters; null when none is readable. */
export function readThrottleCount(cpuDir: string): number | null {
  let total: number | null = null;
  for (const cpu of list(cpuDir).filter((c) => /^cpu\d+$/.test(c))) {
    for (const file of ['core_throttle_count', 'package_throttle_count']) {
      const n = readNumber(join(cpuDir, cpu, 'thermal_throttle', file));
      if (n !== null) total = (total ?? 0) + n;
    }
  }
  return total;
}

/**
 * True when a CPU's cpufreq ceiling is below its hardware maximum (a thermal governor capped it); null when unreadable.
 */
export function readFrequencyCapped(cpuDir: string): boolean | null {
  let seen = false;
  for (const cpu of list(cpuDir).filter((c) => /^cpu\d+$/.test(c))) {
    const hw = readNumber(join(cpuDir, cpu, 'cpufreq', 'cpuinfo_max_freq'));
    const cap = readNumber(join(cpuDir, cpu, 'cpufreq', 'scaling_max_freq'));
    if (hw === null || cap === null) continue;
    seen = true;
    if (cap < hw) return true;
  }
  return seen ? false : null;
}

/**
 * Thermal reader over sysfs: throttled when the throttle counters grew during the window or the frequency is capped.
 */
export function createSysfsThermalReader(sysfs: Partial<ThermalSysfs> = {}): ThermalReader {
  const { thermalDir, cpuDir } = { ...DEFAULT_THERMAL_SYSFS, ...sysfs };
  let countAtBegin: number | null = null;
  return {
    begin() {
      countAtBegin = readThrottleCount(cpuDir);
    },
    end() {
      const temp = readCpuTempC(thermalDir);
      const count = readThrottleCount(cpuDir);
      const capped = readFrequencyCapped(cpuDir);
      const grew = count === null || countAtBegin === null ? null : count > countAtBegin;
      countAtBegin = count;
      const throttled = grew === null && capped === null ? undefined : grew === true || capped === true;
      return { ...(temp === null ? {} : { cpuTempC: temp }), ...stripUndefined({ throttled }) };
    },
  };
}

/** Resident set size of this process, bytes. */
export function processRssBytes(): number {
  return process.memoryUsage.rss();
}
