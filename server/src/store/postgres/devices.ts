/** The device registry on Postgres (migration 1); rows map as on SQLite. */
import type { Hello } from '@edgefleet/shared';
import type { DeviceRepository, DeviceState } from '../devices.js';
import { type DeviceRow, toRecord } from '../sqlite/devices.js';
import type { PgDb } from './db.js';

/**
 * Every heartbeat of a batch in one statement: a round trip per heartbeat serialised the
 * presence queue at ~2,000 heartbeats/s (10,000 devices, one every 5 s) and let the stale
 * sweep mark live devices offline. `keep` leaves the stored model when the heartbeat named none.
 */
const TOUCH_MANY = `UPDATE devices AS d SET last_seen = b.at,
    current_model = CASE WHEN b.keep THEN d.current_model ELSE b.model END
  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::boolean[]) AS b(id, at, model, keep)
  WHERE d.id = b.id RETURNING d.id, d.state`;

const INSERT_CLASS = 'INSERT INTO device_classes (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING';

export function createPgDeviceRepository(db: PgDb): DeviceRepository {
  const upsertHello = (hello: Hello, now: number) =>
    db.tx(async (sql) => {
      await sql.run(INSERT_CLASS, [hello.deviceClass, now]);
      await sql.run(
        `INSERT INTO devices (id, class, state, state_reason, state_at, capabilities, agent_version, runtime,
          current_model, first_seen, last_seen)
        VALUES ($1, $2, 'online', 'connect', $3, $4, $5, $6, $7, $8, $8)
        ON CONFLICT (id) DO UPDATE SET
          class = excluded.class, state = 'online', state_reason = 'connect', state_at = excluded.state_at,
          capabilities = excluded.capabilities, agent_version = excluded.agent_version,
          runtime = excluded.runtime, current_model = excluded.current_model, last_seen = excluded.last_seen`,
        [
          hello.deviceId,
          hello.deviceClass,
          hello.sentAt,
          JSON.stringify(hello.capabilities),
          hello.agentVersion,
          JSON.stringify(hello.runtime),
          hello.currentModel,
          now,
        ],
      );
    });
  return Object.freeze({
    upsertHello,
    touchMany: (beats) =>
      db.rows<{ id: string; state: DeviceState }>(TOUCH_MANY, [
        beats.map((b) => b.id),
        beats.map((b) => b.now),
        beats.map((b) => b.currentModel ?? null),
        beats.map((b) => b.currentModel === undefined),
      ]),
    setState: async (id, state, reason, sentAt, now) =>
      (await db.run(
        `UPDATE devices SET state = $1, state_reason = $2, state_at = $3,
          last_seen = GREATEST(last_seen, COALESCE($4::bigint, 0)) WHERE id = $5`,
        [state, reason, sentAt, now, id],
      )) > 0,
    touch: async (id, now, currentModel) =>
      (currentModel === undefined
        ? await db.run('UPDATE devices SET last_seen = $1 WHERE id = $2', [now, id])
        : await db.run('UPDATE devices SET last_seen = $1, current_model = $2 WHERE id = $3', [
            now,
            currentModel,
            id,
          ])) > 0,
    // The class row first, as a hello does, so the moved device's class is registered too.
    setClass: (id, deviceClass, now) =>
      db.tx(async (sql) => {
        await sql.run(INSERT_CLASS, [deviceClass, now]);
        return (await sql.run('UPDATE devices SET class = $1 WHERE id = $2', [deviceClass, id])) > 0;
      }),
    markStale: async (cutoff) =>
      (
        await db.rows<{ id: string }>(
          `UPDATE devices SET state = 'offline', state_reason = 'stale'
          WHERE state = 'online' AND last_seen < $1 RETURNING id`,
          [cutoff],
        )
      ).map((row) => row.id),
    get: async (id) => {
      const row = await db.one<DeviceRow>('SELECT * FROM devices WHERE id = $1', [id]);
      return row ? toRecord(row) : null;
    },
    list: async (filter = {}) =>
      (filter.deviceClass === undefined
        ? await db.rows<DeviceRow>('SELECT * FROM devices ORDER BY class, id')
        : await db.rows<DeviceRow>('SELECT * FROM devices WHERE class = $1 ORDER BY id', [filter.deviceClass])
      ).map(toRecord),
  } satisfies DeviceRepository);
}
