/** The device registry on Postgres (migration 1); rows map as on SQLite. */
import type { Hello } from '@edgefleet/shared';
import type { DeviceRepository } from '../devices.js';
import { type DeviceRow, toRecord } from '../sqlite/devices.js';
import type { PgDb } from './db.js';

export function createPgDeviceRepository(db: PgDb): DeviceRepository {
  const upsertHello = (hello: Hello, now: number) =>
    db.tx(async (sql) => {
      await sql.run('INSERT INTO device_classes (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        hello.deviceClass,
        now,
      ]);
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
