/** The device registry on SQLite (migration 1). */
import { capabilitiesSchema, helloSchema, type Hello } from '@edgefleet/shared';
import { decodeJson } from '../decode.js';
import type { DeviceRecord, DeviceRepository, DeviceState, HeartbeatTouch, StateReason } from '../devices.js';
import type { Db } from './open.js';

export interface DeviceRow {
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

const runtimeSchema = helloSchema.shape.runtime;

export function toRecord(row: DeviceRow): DeviceRecord {
  const at = (column: string) => ({ table: 'devices', column, key: row.id });
  return {
    id: row.id,
    deviceClass: row.class,
    state: row.state,
    stateReason: row.state_reason,
    capabilities: decodeJson(capabilitiesSchema, row.capabilities, at('capabilities')),
    agentVersion: row.agent_version,
    runtime: decodeJson(runtimeSchema, row.runtime, at('runtime')),
    currentModel: row.current_model,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
  };
}

export function createSqliteDeviceRepository(db: Db): DeviceRepository {
  const insertClass = db.prepare('INSERT OR IGNORE INTO device_classes (name, created_at) VALUES (?, ?)');
  const upsert = db.prepare(`
    INSERT INTO devices (id, class, state, state_reason, state_at, capabilities, agent_version, runtime, current_model,
      first_seen, last_seen)
    VALUES (@id, @class, 'online', 'connect', @sentAt, @capabilities, @agentVersion, @runtime, @currentModel,
      @now, @now)
    ON CONFLICT (id) DO UPDATE SET
      class = excluded.class, state = 'online', state_reason = 'connect',
      state_at = excluded.state_at,
      capabilities = excluded.capabilities, agent_version = excluded.agent_version,
      runtime = excluded.runtime, current_model = excluded.current_model, last_seen = excluded.last_seen`);
  const updateState = db.prepare(`UPDATE devices SET state = ?, state_reason = ?, state_at = ?,
    last_seen = MAX(last_seen, COALESCE(?, 0)) WHERE id = ?`);
  const touchKeepModel = db.prepare('UPDATE devices SET last_seen = ? WHERE id = ?');
  const touchWithModel = db.prepare('UPDATE devices SET last_seen = ?, current_model = ? WHERE id = ?');
  const stale = db.prepare(
    "UPDATE devices SET state = 'offline', state_reason = 'stale' WHERE state = 'online' AND last_seen < ? " +
      'RETURNING id',
  );
  const getStmt = db.prepare('SELECT * FROM devices WHERE id = ?');
  const stateOf = db.prepare('SELECT state FROM devices WHERE id = ?');
  const touchMany = db.transaction((beats: readonly HeartbeatTouch[]) => {
    const known: Array<{ id: string; state: DeviceState }> = [];
    for (const b of beats) {
      const touched =
        b.currentModel === undefined
          ? touchKeepModel.run(b.now, b.id)
          : touchWithModel.run(b.now, b.currentModel, b.id);
      if (touched.changes === 0) continue;
      known.push({ id: b.id, state: (stateOf.get(b.id) as { state: DeviceState }).state });
    }
    return known;
  });
  const listAll = db.prepare('SELECT * FROM devices ORDER BY class, id');
  const listClass = db.prepare('SELECT * FROM devices WHERE class = ? ORDER BY id');
  const updateClass = db.prepare('UPDATE devices SET class = ? WHERE id = ?');
  const moveToClass = db.transaction((id: string, deviceClass: string, now: number): boolean => {
    insertClass.run(deviceClass, now);
    return updateClass.run(deviceClass, id).changes > 0;
  });
  const upsertHello = db.transaction((hello: Hello, now: number) => {
    insertClass.run(hello.deviceClass, now);
    upsert.run({
      id: hello.deviceId,
      class: hello.deviceClass,
      sentAt: hello.sentAt,
      now,
      capabilities: JSON.stringify(hello.capabilities),
      agentVersion: hello.agentVersion,
      runtime: JSON.stringify(hello.runtime),
      currentModel: hello.currentModel,
    });
  });
  return Object.freeze({
    upsertHello: async (hello, now) => {
      upsertHello(hello, now);
    },
    setState: async (id, state, reason, sentAt, now) => updateState.run(state, reason, sentAt, now, id).changes > 0,
    touch: async (id, now, currentModel) =>
      (currentModel === undefined ? touchKeepModel.run(now, id) : touchWithModel.run(now, currentModel, id)).changes >
      0,
    touchMany: async (beats) => touchMany(beats),
    setClass: async (id, deviceClass, now) => moveToClass(id, deviceClass, now),
    markStale: async (cutoff) => (stale.all(cutoff) as Array<{ id: string }>).map((row) => row.id),
    get: async (id) => {
      const row = getStmt.get(id) as DeviceRow | undefined;
      return row ? toRecord(row) : null;
    },
    list: async (filter = {}) =>
      ((filter.deviceClass === undefined ? listAll.all() : listClass.all(filter.deviceClass)) as DeviceRow[]).map(
        toRecord,
      ),
  } satisfies DeviceRepository);
}
