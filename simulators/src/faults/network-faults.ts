/**
 * Network faults between a device and its broker, injected where a real network would fail:
 * on the wire. A device connects to a loopback TCP relay instead of the broker; the relay
 * forwards bytes both ways until told to fail. The agent needs no hook for this: its broker
 * URL is the interface.
 *
 * - `hang()`: every connection stays open but carries nothing more (a pulled cable, a power
 *   loss): neither end sees a close, and the broker declares the device lost only when its
 *   keepalive timer runs out (1.5 × keepalive) and publishes the last will.
 * - `cut()`: every connection is reset at once (a crashed host): the broker sees the close and
 *   publishes the will immediately.
 *
 * Plain `mqtt://` only: the relay forwards TCP bytes; it does not terminate TLS.
 */
import { createServer, connect as connectTcp, type AddressInfo, type Server, type Socket } from 'node:net';

export interface NetworkFaultRelay {
  /** `mqtt://127.0.0.1:<port>`: give this to the device instead of the broker's URL. */
  readonly url: string;
  /** Connections relayed so far (reconnects included). */
  connections(): number;
  /** Freezes every current and future connection: no bytes pass, nothing is closed. */
  hang(): void;
  /** Resets every current connection; later ones are relayed normally. */
  cut(): void;
  /** Closes the relay and every connection through it. */
  close(): Promise<void>;
}

/** Starts a relay to the broker at `brokerUrl` (an `mqtt://host:port` URL). */
export async function startNetworkFaultRelay(brokerUrl: string): Promise<NetworkFaultRelay> {
  const target = new URL(brokerUrl);
  if (target.protocol !== 'mqtt:')
    throw new Error(`a network fault relay forwards plain TCP; ${target.protocol} URLs are not supported`);
  const port = Number(target.port || 1883);
  const host = target.hostname;
  const pairs = new Set<readonly [Socket, Socket]>();
  let hung = false;
  let accepted = 0;

  const freeze = ([device, broker]: readonly [Socket, Socket]): void => {
    device.unpipe(broker);
    broker.unpipe(device);
    device.pause();
    broker.pause();
  };

  const server: Server = createServer((device) => {
    accepted += 1;
    const broker = connectTcp({ host, port });
    const pair = [device, broker] as const;
    pairs.add(pair);
    // A close on one side travels to the other, except while hung: a pulled cable carries no
    // close either, so the broker must find out through its keepalive timer.
    const gone = (self: Socket, other: Socket) => (): void => {
      self.destroy();
      if (!hung) other.destroy();
      if (device.destroyed && broker.destroyed) pairs.delete(pair);
    };
    device.on('error', gone(device, broker)).on('close', gone(device, broker));
    broker.on('error', gone(broker, device)).on('close', gone(broker, device));
    if (hung) freeze(pair);
    else {
      device.pipe(broker);
      broker.pipe(device);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port: relayPort } = server.address() as AddressInfo;

  return Object.freeze({
    url: `mqtt://127.0.0.1:${relayPort}`,
    connections: () => accepted,
    hang() {
      hung = true;
      for (const pair of pairs) freeze(pair);
    },
    cut() {
      for (const [device, broker] of pairs) {
        device.resetAndDestroy();
        broker.resetAndDestroy();
      }
      pairs.clear();
    },
    async close() {
      for (const [device, broker] of pairs) {
        device.destroy();
        broker.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
