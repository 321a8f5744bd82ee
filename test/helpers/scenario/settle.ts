/**
 * Waiting for the broker in a virtual-clock scenario. Virtual time stands still between steps,
 * but MQTT delivery takes real time, so before time moves on the scenario waits until:
 *   - every online device's messages reached the server (the server's per-device receive counts
 *     cover what the device's link published), and its telemetry outbox is empty;
 *   - the server wrote the telemetry it holds, and any reconcile a breach woke has finished;
 *   - everything the server published to online devices reached them (manifests, chunks, …).
 * Devices without a network (a disconnect or crash fault) are left out: their messages wait
 * in their outbox or in mqtt.js' store and are checked once they reconnect.
 *
 * Heartbeats are not counted: they are QoS 0, and one in a socket that a fault destroys is
 * lost for good, which is what QoS 0 means.
 */
import type { DeviceChannel, ServerChannel } from '@edgefleet/shared';
import type { EdgefleetServer } from '@edgefleet/server';
import type { ControlLoop } from '@edgefleet/server/control/index';
import type { VirtualDevice } from '@edgefleet/simulators';
import type { Logger } from 'pino';

const UP: readonly DeviceChannel[] = ['hello', 'status', 'telemetry', 'events', 'chunk-req'];
const DOWN: readonly ServerChannel[] = ['desired', 'chunks', 'commands'];

export interface SettlerOptions {
  readonly server: EdgefleetServer;
  readonly devices: readonly VirtualDevice[];
  readonly loop: ControlLoop | null;
  readonly logger: Logger;
  /** Real time one settle may take before it fails with what is still missing, ms. Default 30 000. */
  readonly timeoutMs?: number;
}

export interface Settler {
  /** Waits (real time) until `n` devices are online. */
  untilOnline(n: number): Promise<void>;
  /** Waits until the broker delivered everything both ways and the server has processed it. */
  settle(): Promise<void>;
  stats(): { readonly settles: number; readonly polls: number };
}

export function createSettler(o: SettlerOptions): Settler {
  const timeoutMs = o.timeoutMs ?? 30_000;
  let settles = 0;
  let polls = 0;
  const online = (d: VirtualDevice): boolean => d.link.stats().state === 'online';

  /**
   * What is still in flight for one device, in words; null when nothing is. `outbox`: also wait for its telemetry
   * outbox to empty.
   */
  function missing(d: VirtualDevice, outbox: boolean): string | null {
    const s = d.link.stats();
    if (s.state === 'connecting') return `${d.deviceId} is connecting`;
    if (s.state !== 'online') return null;
    const t = o.server.mqttTraffic(d.deviceId) ?? { received: {}, published: {} };
    for (const ch of UP)
      if ((t.received[ch] ?? 0) < s.published[ch])
        return `${d.deviceId} sent ${s.published[ch]} on ${ch}, the server has ${t.received[ch] ?? 0}`;
    for (const ch of DOWN)
      if ((t.published[ch] ?? 0) > s.receivedBy[ch])
        return `the server sent ${t.published[ch]} on ${d.deviceId}/${ch}, the device has ${s.receivedBy[ch]}`;
    const pending = outbox ? (d.telemetry?.telemetry.stats().pending ?? 0) : 0;
    return pending > 0 ? `${d.deviceId} has ${pending} telemetry entries not yet delivered` : null;
  }

  async function until(done: () => string | null, deadline: number): Promise<void> {
    for (let spins = 0; ; spins += 1) {
      const left = done();
      if (left === null) return;
      if (Date.now() > deadline) throw new Error(`the broker did not settle in ${timeoutMs} ms of real time: ${left}`);
      polls += 1;
      // A few turns of the event loop first (loopback delivery is quick), then short sleeps.
      await new Promise((r) => (spins < 20 ? setImmediate(r) : setTimeout(r, 2)));
    }
  }

  const firstMissing = (outbox: boolean): string | null => {
    for (const d of o.devices) {
      const m = missing(d, outbox);
      if (m) return m;
    }
    return null;
  };

  return {
    async untilOnline(n) {
      await until(() => {
        const k = o.devices.filter(online).length;
        return k >= n ? null : `${k}/${n} devices online`;
      }, Date.now() + timeoutMs);
    },
    async settle() {
      settles += 1;
      const deadline = Date.now() + timeoutMs;
      for (let round = 0; ; round += 1) {
        await until(() => firstMissing(false), deadline);
        // Windows wait in the ingest buffer until written; writing them may wake the loop (breach
        // events) and acknowledges them to the devices, whose outboxes then empty.
        await o.server.telemetry().flush();
        await o.loop?.idle();
        const left = firstMissing(true);
        if (left === null) return;
        if (Date.now() > deadline)
          throw new Error(`the broker did not settle in ${timeoutMs} ms of real time: ${left}`);
        polls += 1;
        await new Promise((r) => (round < 20 ? setImmediate(r) : setTimeout(r, 2)));
      }
    },
    stats: () => ({ settles, polls }),
  };
}

/**
 * Moves a scenario to `to` in two phases on one virtual time (`createVirtualClocks`), so the
 * server's scheduled work never races device traffic: the devices' clock first (their timers
 * fire: windows, heartbeats, installs) and the broker settles, the server stamping what
 * arrives with the step's time; then the server's clock (its scheduler's due tasks run:
 * rollout evaluation, presence sweep, control tick, telemetry retention) and, once they
 * finished, the broker settles again. The server's clock is what `createServer({ clock })` got.
 */
export function lockstep(o: {
  readonly devices: { advanceTo(to: number): void };
  readonly server: { advanceTo(to: number): void };
  readonly scheduler: { idle(): Promise<void> };
  readonly settler: Pick<Settler, 'settle'>;
}): (to: number) => Promise<void> {
  return async (to) => {
    o.devices.advanceTo(to);
    await o.settler.settle();
    o.server.advanceTo(to);
    await o.scheduler.idle();
    await o.settler.settle();
  };
}
