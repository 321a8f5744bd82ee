import type { Capabilities, Hello } from '@edgefleet/shared';
import type { Db } from './db.js';

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

interface DeviceRow {
  id: string;
  class: string;
  state: DeviceState;
  state_reason: StateReason;
  capabilities: string;
  agent_version: string;
  runtime: string;
  current_model: string | null;
  first_seen: number;
  last_seen: number;
}

export interface DeviceRepository {
  /** Records a `hello`: creates the device (and its class) or refreshes it; marks it online. */
  upsertHello(hello: Hello, now: number): void;
  /**
   * Applies a presence change in arrival order (the broker orders a takeover's last will
   * before the new connection's status). `now` moves last-seen only when given: a retained
   * status replayed on subscribe is no evidence the device is alive. Returns false for an
   * unknown device.
   */
  setState(id: string, state: DeviceState, reason: StateReason, sentAt: number, now: number | null): boolean;
  /** Updates last-seen (and the model) on a heartbeat; returns false for an unknown device. */
  touch(id: string, now: number, currentModel?: string | null): boolean;
  /** Moves a registered device to another class (an admin's action); false for an unknown device. */
  setClass(id: string, deviceClass: string, now: number): boolean;
  /** Marks online devices silent since before `cutoff` offline (`stale`); returns their ids. */
  markStale(cutoff: number, now: number): string[];
  get(id: string): DeviceRecord | null;
  list(): DeviceRecord[];
}

function toRecord(row: DeviceRow): DeviceRecord {
  return {
    id: row.id,
    deviceClass: row.class,
    state: row.state,
    stateReason: row.state_reason,
    capabilities: JSON.parse(row.capabilities) as Capabilities,
    agentVersion: row.agent_version,
    runtime: JSON.parse(row.runtime) as Hello['runtime'],
    currentModel: row.current_model,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
  };
}

/** Device registry queries over the store's connection. */
export function createDeviceRepository(db: Db): DeviceRepository {
  const readonly = db.readonly;
  // Statements that write cannot be prepared on a read-only connection; prepare lazily.
  const lazy = <T>(make: () => T) => {
    let value: T | undefined;
    return () => (value ??= make());
  };
  const insertClass = lazy(() => db.prepare('INSERT OR IGNORE INTO device_classes (name, created_at) VALUES (?, ?)'));
  const upsert = lazy(() =>
    db.prepare(`
    INSERT INTO devices (id, class, state, state_reason, state_at, capabilities, agent_version, runtime, current_model, first_seen, last_seen)
    VALUES (@id, @class, 'online', 'connect', @sentAt, @capabilities, @agentVersion, @runtime, @currentModel, @now, @now)
    ON CONFLICT (id) DO UPDATE SET
      class = excluded.class, state = 'online', state_reason = 'connect',
      state_at = excluded.state_at,
      capabilities = excluded.capabilities, agent_version = excluded.agent_version,
      runtime = excluded.runtime, current_model = excluded.current_model, last_seen = excluded.last_seen`),
  );
  const updateState = lazy(() =>
    db.prepare(
      'UPDATE devices SET state = ?, state_reason = ?, state_at = ?, last_seen = MAX(last_seen, COALESCE(?, 0)) WHERE id = ?',
    ),
  );
  const touchStmt = lazy(() =>
    db.prepare('UPDATE devices SET last_seen = ?, current_model = COALESCE(?, current_model) WHERE id = ?'),
  );
  const touchModel = lazy(() => db.prepare('UPDATE devices SET last_seen = ?, current_model = ? WHERE id = ?'));
  const stale = lazy(() =>
    db.prepare(
      "UPDATE devices SET state = 'offline', state_reason = 'stale' WHERE state = 'online' AND last_seen < ? RETURNING id",
    ),
  );
  const getStmt = db.prepare('SELECT * FROM devices WHERE id = ?');
  const listStmt = db.prepare('SELECT * FROM devices ORDER BY class, id');
  const upsertHelloTx = lazy(() =>
    db.transaction((hello: Hello, now: number) => {
      insertClass().run(hello.deviceClass, now);
      upsert().run({
        id: hello.deviceId,
        class: hello.deviceClass,
        sentAt: hello.sentAt,
        now,
        capabilities: JSON.stringify(hello.capabilities),
        agentVersion: hello.agentVersion,
        runtime: JSON.stringify(hello.runtime),
        currentModel: hello.currentModel,
      });
    }),
  );
  const guard = () => {
    if (readonly) throw new Error('device repository opened read-only');
  };
  return Object.freeze({
    upsertHello(hello: Hello, now: number) {
      guard();
      upsertHelloTx()(hello, now);
    },
    setState(id: string, state: DeviceState, reason: StateReason, sentAt: number, now: number | null) {
      guard();
      return updateState().run(state, reason, sentAt, now, id).changes > 0;
    },
    touch(id: string, now: number, currentModel?: string | null) {
      guard();
      const result =
        currentModel === undefined ? touchStmt().run(now, null, id) : touchModel().run(now, currentModel, id);
      return result.changes > 0;
    },
    setClass(id: string, deviceClass: string, now: number) {
      guard();
      return db.transaction(() => {
        insertClass().run(deviceClass, now);
        return db.prepare('UPDATE devices SET class = ? WHERE id = ?').run(deviceClass, id).changes > 0;
      })();
    },
    markStale(cutoff: number, _now: number) {
      guard();
      return (stale().all(cutoff) as Array<{ id: string }>).map((row) => row.id);
    },
    get(id: string) {
      const row = getStmt.get(id) as DeviceRow | undefined;
      return row ? toRecord(row) : null;
    },
    list() {
      return (listStmt.all() as DeviceRow[]).map(toRecord);
    },
  });
}
