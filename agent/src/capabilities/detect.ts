/**
 * What this device can run, for `hello` [EF-PROTO 3.1]: CPU, memory, onnxruntime providers,
 * precisions, and whether power can be measured here. Simulated devices skip this and
 * inject modelled capabilities instead.
 */
import { access, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Capabilities, Precision } from '@edgefleet/shared/device';
import { describeOrt } from '../runtime/ort.js';

/** Where Linux exposes power counters. Injectable so tests can point at a fake sysfs. */
export interface PowerProbePaths {
  /** Intel RAPL energy counters. Default `/sys/class/powercap/intel-rapl`. */
  readonly raplDir: string;
  /** hwmon sensors (Jetson INA3221, some Arm boards). Default `/sys/class/hwmon`. */
  readonly hwmonDir: string;
}

export const DEFAULT_POWER_PROBE_PATHS: PowerProbePaths = Object.freeze({
  raplDir: '/sys/class/powercap/intel-rapl',
  hwmonDir: '/sys/class/hwmon',
});

/**
 * Precisions onnxruntime's CPU provider executes: fp32 everywhere; int8 through its
 * QLinear/integer kernels; fp16 models run (many ops through casts, slowly on CPUs
 * without fp16 arithmetic); int4 weights through MatMulNBits. What is *fast* is the
 * planner's business; this says what *runs*.
 */
export const CPU_PRECISIONS: readonly Precision[] = Object.freeze(['fp32', 'fp16', 'int8', 'int4']);

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when a RAPL energy counter or an hwmon `power*_input` sensor can be read. */
export async function canMeasurePower(paths: PowerProbePaths = DEFAULT_POWER_PROBE_PATHS): Promise<boolean> {
  // RAPL counters are often root-only since CVE-2020-8694, hence the read check, not a stat.
  if (await readable(join(paths.raplDir, 'intel-rapl:0', 'energy_uj'))) return true;
  let sensors: string[];
  try {
    sensors = await readdir(paths.hwmonDir);
  } catch {
    return false;
  }
  for (const sensor of sensors) {
    let files: string[];
    try {
      files = await readdir(join(paths.hwmonDir, sensor));
    } catch {
      continue;
    }
    for (const file of files) {
      if (/^power\d+_(input|average)$/.test(file) && (await readable(join(paths.hwmonDir, sensor, file)))) return true;
    }
  }
  return false;
}

export interface DetectedDevice {
  readonly capabilities: Capabilities;
  readonly runtime: { readonly node: string; readonly onnxruntime: string };
}

/** Detects this host's capabilities and runtime versions. */
export async function detectCapabilities(paths: PowerProbePaths = DEFAULT_POWER_PROBE_PATHS): Promise<DetectedDevice> {
  const cpuList = cpus();
  const [ort, measured] = await Promise.all([describeOrt(), canMeasurePower(paths)]);
  const capabilities: Capabilities = {
    cpuModel: (cpuList[0]?.model ?? 'unknown').trim().slice(0, 200) || 'unknown',
    cores: Math.max(1, cpuList.length),
    memoryBytes: totalmem(),
    executionProviders: [...ort.executionProviders],
    precisions: [...CPU_PRECISIONS],
    powerSource: measured ? 'measured' : 'none',
  };
  return { capabilities, runtime: { node: process.version, onnxruntime: ort.version } };
}
