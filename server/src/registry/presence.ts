import { allDevicesFilter, type Heartbeat, type Hello, type RejectReason, type Status } from '@edgefleet/shared';
import type { MessageInfo } from '../broker/client.js';
import type { InboundRouter } from '../broker/inbound.js';
import type { Logger } from '../log/logger.js';
import type { DeviceRepository } from '../store/devices.js';

/** Topic filters the presence service needs [EF-PROTO 2]. */
export const PRESENCE_FILTERS: readonly string[] = [
  allDevicesFilter('hello'),
  allDevicesFilter('status'),
  allDevicesFilter('heartbeat'),
];

export interface PresenceServiceOptions {
  readonly devices: DeviceRepository;
  /**
   * The server's inbound edge: presence registers its handlers there (decoding and rejection
   * counting happen there, once).
   */
  readonly inbound: InboundRouter;
  readonly logger: Logger;
  /** Injected clock, ms. */
  readonly now: () => number;
  /** Silence after which the sweep marks a device offline, ms. */
  readonly offlineAfterMs: number;
  /** Told about every applied state change (the event bus listens here). */
  readonly onPresence?: (deviceId: string, state: 'online' | 'offline', reason: string) => void;
  /**
   * The class a device's credential binds it to [EF-PROTO 7.2]: a string, null for a
   * credential issued without one (its first hello binds it, through `bindClass`), or
   * undefined when there is no credential (auth off): then the hello's class is taken.
   */
  readonly credentialClass?: (deviceId: string) => Promise<string | null | undefined>;
  /** Records the class of a credential issued without one (first hello). */
  readonly bindClass?: (deviceId: string, deviceClass: string) => Promise<unknown>;
  /** Told about each refused hello (`class-mismatch`); the server's rejection counter takes it. */
  readonly onReject?: (rejection: { reason: RejectReason; detail: string; deviceId: string | null }) => void;
}

export interface PresenceService {
  /** Marks devices silent for longer than `offlineAfterMs` offline; resolves with their ids. */
  sweep(): Promise<string[]>;
  /**
   * Records that the broker cut an online device off without its last will (a revoked device
   * under mosquitto's dynamic security): offline, reason `lost`, now. False when it was not online.
   */
  markLost(deviceId: string): Promise<boolean>;
  /** Resolves once every message handed in so far is applied. */
  idle(): Promise<void>;
  /** Presence messages received and not yet applied (a queue running behind the broker shows here). */
  backlog(): number;
  /** How late the newest heartbeats were applied (median of applied-at − sent-at), ms; the sweep allows it. */
  intakeLagMs(): number;
}

/**
 * The most a lag in hearing devices extends the silence a device is allowed (5 min): a device clock
 * stepped back looks like lag, and this bounds how long a wrong lag can delay an offline.
 */
export const MAX_INTAKE_LAG_ALLOWANCE_MS = 300_000;

/**
 * Presence ingestion: `hello` registers a device, `status` (retained, and the broker's last
 * will) sets online/offline, `heartbeat` moves last-seen [EF-PROTO 3]. Messages arrive decoded
 * from the inbound router, which counted whatever did not decode; the registry never sees an
 * unparsed message. They are applied one after another in arrival order (a last will before
 * the next connection's status), and a store failure is logged, not thrown.
 */
export function createPresenceService(options: PresenceServiceOptions): PresenceService {
  const { devices, now } = options;
  const log = options.logger;
  const unknownWarned = new Map<string, number>();

  /** A device we never heard `hello` from: warn once a minute; its next connection registers it. */
  function warnUnknown(deviceId: string, channel: string): void {
    const at = now();
    const last = unknownWarned.get(deviceId);
    if (last !== undefined && at - last < 60_000) return;
    unknownWarned.set(deviceId, at);
    log.warn(
      { deviceId, channel },
      'presence message from a device that has not said hello; it is registered on its next connection',
    );
  }

  /**
   * How far behind its devices this server hears them. Messages not yet read (in the broker, in the
   * socket) are invisible to the server, but the heartbeats that do arrive carry their age, so the
   * sweep can allow a device that much longer before it calls it silent. A device's clock need not
   * agree with the server's: its age is applied-at − sent-at minus the least that device ever showed
   * (its clock offset plus the quickest delivery), and the lag is the median over the last batch.
   */
  let intakeLagMs = 0;
  const leastAge = new Map<string, number>();

  function lagOf(beats: Iterable<Heartbeat>, at: number): number {
    const lags: number[] = [];
    for (const b of beats) {
      const age = at - b.sentAt;
      const least = Math.min(age, leastAge.get(b.deviceId) ?? age);
      leastAge.set(b.deviceId, least);
      lags.push(age - least);
    }
    lags.sort((a, b) => a - b);
    return Math.min(MAX_INTAKE_LAG_ALLOWANCE_MS, lags[Math.floor(lags.length / 2)] ?? 0);
  }

  // Presence changes must apply in arrival order, so each waits for the one before it.
  let chain: Promise<void> = Promise.resolve();
  /** Messages handed in and not yet applied. */
  let waiting = 0;

  /**
   * A hello may not choose the device's class (issue 18, finding 3): the credential's class
   * holds, a different one is refused and counted, and only an admin changes it.
   */
  async function classAllowed(hello: Hello): Promise<boolean> {
    const bound = await options.credentialClass?.(hello.deviceId);
    if (bound === undefined || bound === hello.deviceClass) return true;
    if (bound === null) {
      await options.bindClass?.(hello.deviceId, hello.deviceClass);
      log.info(
        { deviceId: hello.deviceId, deviceClass: hello.deviceClass },
        'credential issued without a class is now bound to the class of its first hello',
      );
      return true;
    }
    options.onReject?.({
      reason: 'class-mismatch',
      detail:
        `hello announces class ${hello.deviceClass}, but the credential is for ${bound}; ` +
        `an admin changes it with PATCH /v1/devices/${hello.deviceId}`,
      deviceId: hello.deviceId,
    });
    return false;
  }

  async function handleHello(hello: Hello): Promise<void> {
    if (!(await classAllowed(hello))) return;
    await devices.upsertHello(hello, now());
    options.onPresence?.(hello.deviceId, 'online', 'connect');
    log
      .child({ deviceId: hello.deviceId })
      .info({ deviceClass: hello.deviceClass, agentVersion: hello.agentVersion }, 'device said hello');
  }

  async function handleStatus(status: Status, info: MessageInfo): Promise<void> {
    const reason = status.state === 'online' ? 'connect' : status.reason === 'connect' ? 'lost' : status.reason;
    // A retained replay says nothing about liveness now, so it does not move last-seen.
    const applied = await devices.setState(
      status.deviceId,
      status.state,
      reason,
      status.sentAt,
      info.retained ? null : now(),
    );
    if (!applied) {
      warnUnknown(status.deviceId, 'status');
      return;
    }
    options.onPresence?.(status.deviceId, status.state, reason);
    log
      .child({ deviceId: status.deviceId })
      .info({ state: status.state, reason, retained: info.retained }, 'device presence changed');
  }

  /**
   * Heartbeats that arrived since the last message of another kind, newest per device. They
   * only move last-seen, so they are written together (`touchMany`, one transaction): one
   * store call per heartbeat could not keep up with a large fleet, and the stale sweep then
   * marked live devices offline. The batch takes its place in the queue when it opens, and
   * closes when any other message is queued, so presence still applies in arrival order.
   */
  let openBeats: Map<string, Heartbeat> | null = null;

  async function applyHeartbeats(beats: Map<string, Heartbeat>, received: { count: number }): Promise<void> {
    if (openBeats === beats) openBeats = null;
    waiting -= received.count;
    const at = now();
    intakeLagMs = lagOf(beats.values(), at);
    const touches = [...beats.values()].map((b) =>
      b.currentModel === undefined
        ? { id: b.deviceId, now: at }
        : { id: b.deviceId, now: at, currentModel: b.currentModel },
    );
    const known = await devices.touchMany(touches);
    const knownIds = new Set(known.map((k) => k.id));
    for (const id of beats.keys()) if (!knownIds.has(id)) warnUnknown(id, 'heartbeat');
    // A heartbeat proves the device is up even if its online status was lost or swept.
    for (const { id } of known.filter((k) => k.state === 'offline')) {
      const beat = beats.get(id) as Heartbeat;
      await devices.setState(id, 'online', 'connect', beat.sentAt, at);
    }
  }

  /** How many heartbeats the open batch took in (a device's newer one replaces its older one). */
  let openReceived = { count: 0 };

  function queueHeartbeat(heartbeat: Heartbeat): void {
    if (openBeats) {
      openBeats.set(heartbeat.deviceId, heartbeat);
      openReceived.count += 1;
      return;
    }
    const beats = new Map([[heartbeat.deviceId, heartbeat]]);
    const received = { count: 1 };
    openBeats = beats;
    openReceived = received;
    queue(() => applyHeartbeats(beats, received), { deviceId: null, type: 'heartbeat' });
  }

  function apply(message: Hello | Status, info: MessageInfo): Promise<void> {
    waiting -= 1;
    return message.type === 'hello' ? handleHello(message) : handleStatus(message, info);
  }

  /** Runs `step` after every step queued before it; a failure is logged, never thrown. */
  function queue(step: () => Promise<void>, about: { deviceId: string | null; type: string }): void {
    chain = chain.then(step).catch((err: unknown) => {
      // A store failure must not take the server down; the message is lost, the device resends.
      log.error({ err, ...about }, 'presence message could not be stored');
    });
  }

  /** Queues a decoded message behind the ones before it. */
  function enqueue(message: Hello | Status | Heartbeat, info: MessageInfo): void {
    waiting += 1;
    if (message.type === 'heartbeat') {
      queueHeartbeat(message);
      return;
    }
    // Heartbeats received before this message are written before it.
    openBeats = null;
    queue(() => apply(message, info), { deviceId: message.deviceId, type: message.type });
  }
  options.inbound.on('hello', enqueue);
  options.inbound.on('status', enqueue);
  options.inbound.on('heartbeat', enqueue);

  return {
    idle: () => chain,
    backlog: () => waiting,
    intakeLagMs: () => intakeLagMs,
    markLost(deviceId) {
      // On the message chain, so a status message (or heartbeat) already received is applied first.
      openBeats = null;
      const done = chain.then(async () => {
        const at = now();
        const changed = await devices.setState(deviceId, 'offline', 'lost', at, at);
        if (changed) options.onPresence?.(deviceId, 'offline', 'lost');
        return changed;
      });
      chain = done.then(
        () => undefined,
        () => undefined,
      );
      return done;
    },
    async sweep() {
      // Presence received but not yet applied first: under load the queue may be seconds behind,
      // and sweeping before it marked devices offline whose heartbeats were already here.
      await chain;
      // A server hearing its fleet L ms late has heard a live device's last heartbeat up to L ms late too.
      const ids = await devices.markStale(now() - options.offlineAfterMs - intakeLagMs);
      for (const id of ids) {
        log
          .child({ deviceId: id })
          .info({ offlineAfterMs: options.offlineAfterMs }, 'device silent too long; marked offline');
        options.onPresence?.(id, 'offline', 'stale');
      }
      return ids;
    },
  };
}
