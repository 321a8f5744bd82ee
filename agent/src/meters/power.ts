/**
 * Power over a telemetry window. Measured where the device exposes it (Intel RAPL energy
 * counters, hwmon power sensors such as a Jetson's INA3221), modelled otherwise from a
 * power model and the measured duty cycle; every figure says which [DESIGN: honest figures].
 * Sysfs roots are injectable, so tests run against a fake sysfs in a temp dir.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FigureSource } from '@edgefleet/shared/device';

/** One way of knowing power; `begin` at window start, `end` at window close. */
export interface PowerSource {
  /** `rapl`, `hwmon`, `class-model`, `profile`, … (reported as `power.sensor`). */
  readonly sensor: string;
  readonly source: FigureSource;
  begin(now: number): void;
  /** Average watts since `begin`; null when the reading failed (the window then has no power figure). */
  end(now: number, dutyCycle: number): number | null;
}

/** Where Linux exposes power counters; the defaults are the real sysfs. */
export interface PowerSysfs {
  /** Holds `intel-rapl:N` package domains. Default `/sys/class/powercap`. */
  readonly powercapDir: string;
  /** Holds `hwmonN/power*_input`. Default `/sys/class/hwmon`. */
  readonly hwmonDir: string;
}

export const DEFAULT_POWER_SYSFS: PowerSysfs = Object.freeze({
  powercapDir: '/sys/class/powercap',
  hwmonDir: '/sys/class/hwmon',
});

/** Idle and active watts; active is drawn during busy time, idle the rest of the window. */
export interface PowerModelFigures {
  readonly idleW: number;
  readonly activeW: number;
}

function readNumber(path: string): number | null {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Energy consumed between two counter readings, handling one wraparound at `maxRange`. */
export function counterDelta(start: number, end: number, maxRange: number | null): number | null {
  if (end >= start) return end - start;
  // The counter wrapped; without its range the delta is unknowable.
  return maxRange === null || maxRange <= start ? null : maxRange - start + end;
}

interface RaplDomain {
  readonly energyPath: string;
  readonly maxRange: number | null;
}

/**
 * RAPL package domains (`intel-rapl:N`, not the `intel-rapl:N:M` sub-domains, which the
 * package already contains). Null unless every counter can be read: since CVE-2020-8694
 * `energy_uj` is often root-only.
 */
export function createRaplSource(powercapDir: string = DEFAULT_POWER_SYSFS.powercapDir): PowerSource | null {
  const domains: RaplDomain[] = list(powercapDir)
    .filter((name) => /^intel-rapl:\d+$/.test(name))
    .map((name) => ({
      energyPath: join(powercapDir, name, 'energy_uj'),
      maxRange: readNumber(join(powercapDir, name, 'max_energy_range_uj')),
    }));
  if (domains.length === 0 || domains.some((d) => readNumber(d.energyPath) === null)) return null;
  let started: { at: number; values: (number | null)[] } | null = null;
  return {
    sensor: 'rapl',
    source: 'measured',
    begin(now) {
      started = { at: now, values: domains.map((d) => readNumber(d.energyPath)) };
    },
    end(now) {
      const from = started;
      const values = domains.map((d) => readNumber(d.energyPath));
      // The next window starts where this one ends, so no energy falls between windows.
      started = { at: now, values };
      if (!from || now <= from.at) return null;
      let microjoules = 0;
      for (const [i, d] of domains.entries()) {
        const a = from.values[i] ?? null;
        const b = values[i] ?? null;
        const delta = a === null || b === null ? null : counterDelta(a, b, d.maxRange);
        if (delta === null) return null;
        microjoules += delta;
      }
      return microjoules / 1e6 / ((now - from.at) / 1000);
    },
  };
}

/**
 * The first readable hwmon `power*_input` (µW), sorted by sensor and file name. Boards such
 * as Jetson list the total input rail first; summing all rails would count sub-rails twice.
 * Averages the readings at window start and end.
 */
export function createHwmonSource(hwmonDir: string = DEFAULT_POWER_SYSFS.hwmonDir): PowerSource | null {
  let path: string | null = null;
  for (const sensor of list(hwmonDir)) {
    const file = list(join(hwmonDir, sensor)).find(
      (f) => /^power\d+_input$/.test(f) && readNumber(join(hwmonDir, sensor, f)) !== null,
    );
    if (file) {
      path = join(hwmonDir, sensor, file);
      break;
    }
  }
  if (path === null) return null;
  const sensorPath = path;
  let first: number | null = null;
  return {
    sensor: 'hwmon',
    source: 'measured',
    begin() {
      first = readNumber(sensorPath);
    },
    end() {
      const last = readNumber(sensorPath);
      const start = first;
      first = last;
      if (last === null) return null;
      return ((start ?? last) + last) / 2 / 1e6;
    },
  };
}

/** Modelled power: idle W + (active W − idle W) × duty cycle. */
export function createModelledPowerSource(model: () => PowerModelFigures | null, sensor = 'class-model'): PowerSource {
  return {
    sensor,
    source: 'modelled',
    begin() {
      /* a model needs no baseline */
    },
    end(_now, dutyCycle) {
      const m = model();
      if (!m) return null;
      const duty = Math.min(1, Math.max(0, dutyCycle));
      return m.idleW + (m.activeW - m.idleW) * duty;
    },
  };
}

/** Picks the best source: RAPL, then hwmon (both measured), then the model (if any), else null. */
export function selectPowerSource(
  options: { readonly sysfs?: Partial<PowerSysfs>; readonly model?: () => PowerModelFigures | null } = {},
): PowerSource | null {
  const sysfs = { ...DEFAULT_POWER_SYSFS, ...options.sysfs };
  return (
    createRaplSource(sysfs.powercapDir) ??
    createHwmonSource(sysfs.hwmonDir) ??
    (options.model ? createModelledPowerSource(options.model) : null)
  );
}
