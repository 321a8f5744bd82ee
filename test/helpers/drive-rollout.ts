/**
 * Drives a rollout to its end from a test, with device timeouts that do not depend on how busy
 * the machine is. Devices that answer get all the real time they need (a worker loading a model
 * can take seconds at load 20), so their rollout's `deviceTimeoutMs` should be generous; devices
 * the test has silenced (`silent`) would make the test wait that long. So once every device still
 * in flight is a silent one, the rollout's clock is moved past the timeout: later ticks run at
 * real time + `deviceTimeoutMs`, and the silent devices time out by the rollout's own rule. The
 * clock only ever moves forward, and never while an answering device is in flight or rolling back,
 * so their deadlines count real time. A silenced device the rollout then rolls back (it may hold the
 * new variant) never confirms either: its rollback deadline is jumped the same way.
 */
import type { RolloutStatus } from '@edgefleet/server/deploy/index';

/** What the helper needs of the rollout service. */
export interface Rollouts {
  tick(now?: number): Promise<void>;
  status(id: string): Promise<RolloutStatus>;
}

const IN_FLIGHT: ReadonlySet<string> = new Set(['notified', 'in-progress']);

/** Ticks until the rollout is completed or aborted (or `limitMs` of real time passed) and returns its status. */
export async function driveRollout(
  rollouts: Rollouts,
  id: string,
  o: { readonly silent?: readonly string[]; readonly deviceTimeoutMs: number; readonly limitMs?: number },
): Promise<RolloutStatus> {
  const silent = new Set(o.silent ?? []);
  const deadline = Date.now() + (o.limitMs ?? 180_000);
  let offset = 0;
  for (;;) {
    await rollouts.tick(Date.now() + offset);
    const s = await rollouts.status(id);
    if (s.rollout.state === 'completed' || s.rollout.state === 'aborted') return s;
    if (Date.now() > deadline)
      throw new Error(`rollout ${id} still ${s.rollout.state} after ${o.limitMs ?? 180_000} ms: ${describe(s)}`);
    const waiting = s.devices.filter((d) => IN_FLIGHT.has(d.state) || d.state === 'rolling-back');
    // Only silenced devices are left waiting (for a report, or for a rollback they will never confirm): their
    // timeout is all the rollout waits for.
    if (waiting.length > 0 && waiting.every((d) => silent.has(d.deviceId))) offset += o.deviceTimeoutMs + 1;
    else await new Promise((r) => setTimeout(r, 40));
  }
}

function describe(s: RolloutStatus): string {
  return s.devices.map((d) => `${d.deviceId} ${d.state}`).join(', ');
}
