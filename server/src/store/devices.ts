/**
 * The device registry's repository (used by presence, the admin API and rollouts): one row
 * per device that said hello. Every method is async so a networked store (Postgres) fits the
 * same interface; docs/design-notes.md says why.
 */
import type { Capabilities, Hello } from '@edgefleet/shared';

export type DeviceState = 'online' | 'offline';
/** Why a device has its state: its own `connect`/`clean` status, `lost` (last will), `stale` (no traffic). */
export type StateReason = 'connect' | 'clean' | 'lost' | 'stale';

/** One row of the registry, as the rest of the server sees it. */
export interface DeviceRecord {
  readonly id: string;
  readonly deviceClass: string;
  readonly state: DeviceState;
  readonly stateReason: StateReason;
  readonly capabilities: Capabilities;
  readonly agentVersion: string;
  readonly runtime: Hello['runtime'];
  readonly currentModel: string | null;
  /** Server clock, ms since the epoch. */
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** One device's heartbeat for {@link DeviceRepository.touchMany}; `currentModel` undefined keeps the stored one. */
export interface HeartbeatTouch {
  readonly id: string;
  readonly now: number;
  readonly currentModel?: string | null;
}

export interface DeviceRepository {
  /** Records a `hello`: creates the device (and an unconfigured class of its name) or refreshes it; marks it online. */
  upsertHello(hello: Hello, now: number): Promise<void>;
  /**
   * Applies a presence change in arrival order (the broker orders a takeover's last will
   * before the new connection's status). `now` moves last-seen only when given: a retained
   * status replayed on subscribe is no evidence the device is alive. False for an unknown device.
   */
  setState(id: string, state: DeviceState, reason: StateReason, sentAt: number, now: number | null): Promise<boolean>;
  /** Moves last-seen (and the model, when given) on a heartbeat; false for an unknown device. */
  touch(id: string, now: number, currentModel?: string | null): Promise<boolean>;
  /**
   * Heartbeats of many devices at once (one transaction, one statement on Postgres): each
   * `touch` as above, one entry per device. Returns the known devices among them with their
   * state after the touch (the caller brings back online a device a heartbeat proves alive).
   */
  touchMany(beats: readonly HeartbeatTouch[]): Promise<Array<{ readonly id: string; readonly state: DeviceState }>>;
  /** Moves a registered device to another class (an admin's action); false for an unknown device. */
  setClass(id: string, deviceClass: string, now: number): Promise<boolean>;
  /** Marks online devices silent since before `cutoff` offline (`stale`); returns their ids. */
  markStale(cutoff: number): Promise<string[]>;
  get(id: string): Promise<DeviceRecord | null>;
  /** Every device (or a class's), by class then id. */
  list(filter?: { readonly deviceClass?: string }): Promise<DeviceRecord[]>;
}
