/** A rollout's status as the API and the CLI show it: the record, per-wave counts by device state, every device. */
import { outcomeCounts } from './rollout-machine.js';
import { DEVICE_STATES, type RolloutDevice, type RolloutDeviceState, type RolloutRecord } from './rollout-model.js';

export interface WaveStatus {
  readonly index: number;
  readonly size: number;
  readonly counts: Readonly<Record<RolloutDeviceState, number>>;
}

export interface RolloutStatus {
  readonly rollout: RolloutRecord;
  readonly waves: readonly WaveStatus[];
  readonly devices: readonly RolloutDevice[];
  readonly outcome: ReturnType<typeof outcomeCounts>;
}

const zeroCounts = (): Record<RolloutDeviceState, number> =>
  Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<RolloutDeviceState, number>;

/** Pure: the status of a rollout from its record and device rows. */
export function rolloutStatusOf(rollout: RolloutRecord, devices: readonly RolloutDevice[]): RolloutStatus {
  const waves: WaveStatus[] = [];
  for (let i = 0; i < rollout.waveCount; i += 1) {
    const members = devices.filter((d) => d.wave === i);
    const counts = zeroCounts();
    for (const d of members) counts[d.state] += 1;
    waves.push({ index: i, size: members.length, counts });
  }
  return { rollout, waves, devices, outcome: outcomeCounts(devices) };
}
