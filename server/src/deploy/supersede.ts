/**
 * A catch-up rollout gives way to any other rollout of its devices (class-desired.ts): the
 * newer intent wins. Pure, as the rollout machine: the service saves what this returns.
 */
import { IN_FLIGHT_STATES, type RolloutDevice, type RolloutRecord } from './rollout-model.js';

/** The superseded catch-up: ended `aborted` with the reason, its unfinished devices cancelled (nothing rolls back). */
export function supersede(
  rollout: RolloutRecord,
  devices: readonly RolloutDevice[],
  byId: string,
  at: number,
): { readonly rollout: RolloutRecord; readonly changed: RolloutDevice[] } {
  const changed = devices
    .filter((d) => d.state === 'pending' || IN_FLIGHT_STATES.has(d.state))
    .map(
      (d): RolloutDevice => ({
        ...d,
        state: 'cancelled',
        finishedAt: at,
        updatedAt: at,
        failure: { step: 'superseded', reason: 'superseded', detail: `rollout ${byId} took this device over` },
      }),
    );
  return {
    rollout: { ...rollout, state: 'aborted', reason: `superseded by ${byId}`, finishedAt: at, updatedAt: at },
    changed,
  };
}
