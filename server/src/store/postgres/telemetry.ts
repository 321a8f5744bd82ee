/**
 * The telemetry tables on Postgres (migrations 30–32). Ingestion lives in telemetry-ingest.ts
 * (per-device advisory locks, saturating rollups, epochs, refused messages rolled back alone);
 * reads map rows as on SQLite.
 */
import { breachSchema } from '@edgefleet/shared';
import { decodeJson } from '../decode.js';
import {
  deviceRow,
  type RawDeviceCounters,
  type RawGap,
  type RawRollup,
  type RawWindow,
  toGap,
  toRollup,
  toWindowRow,
} from '../sqlite/telemetry.js';
import type { BreachRow, TelemetryRepository } from '../telemetry.js';
import type { PgDb } from './db.js';
import { createPgTelemetryIngest } from './telemetry-ingest.js';

export function createPgTelemetryRepository(db: PgDb): TelemetryRepository {
  const windows = async (text: string, params: unknown[]) => (await db.rows<RawWindow>(text, params)).map(toWindowRow);
  return Object.freeze({
    ingestBatch: createPgTelemetryIngest(db),
    windows: (deviceId, range) =>
      windows(
        `SELECT * FROM telemetry_windows WHERE device_id = $1 AND window_end >= $2 AND window_end <= $3
        ORDER BY seq LIMIT $4`,
        [deviceId, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER, range.limit ?? 10_000],
      ),
    recentByClass: (deviceClass, since) =>
      windows('SELECT * FROM telemetry_windows WHERE class = $1 AND window_end >= $2 ORDER BY device_id, seq', [
        deviceClass,
        since,
      ]),
    lastWindows: (deviceId, limit) =>
      windows(
        `SELECT * FROM (SELECT * FROM telemetry_windows WHERE device_id = $1 ORDER BY seq DESC LIMIT $2) newest
        ORDER BY seq`,
        [deviceId, limit],
      ),
    rollups: async (deviceClass, range) =>
      (
        await db.rows<RawRollup>(
          `SELECT * FROM telemetry_class_minutes WHERE class = $1 AND minute >= $2 AND minute <= $3 ORDER BY minute`,
          [deviceClass, range.from ?? 0, range.to ?? Number.MAX_SAFE_INTEGER],
        )
      ).map(toRollup),
    gaps: async (deviceId) =>
      (deviceId === undefined
        ? await db.rows<RawGap>('SELECT * FROM telemetry_gaps ORDER BY id')
        : await db.rows<RawGap>('SELECT * FROM telemetry_gaps WHERE device_id = $1 ORDER BY id', [deviceId])
      ).map(toGap),
    device: async (deviceId) => {
      const r = await db.one<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE device_id = $1', [deviceId]);
      return r ? deviceRow(r) : null;
    },
    devicesOfClass: async (deviceClass) =>
      (
        await db.rows<RawDeviceCounters>('SELECT * FROM telemetry_devices WHERE class = $1 ORDER BY device_id', [
          deviceClass,
        ])
      ).map(deviceRow),
    breaches: async (filter) =>
      (
        await db.rows<{ id: number; received_at: number; doc: string }>(
          `SELECT id, received_at, doc FROM telemetry_breaches
          WHERE ($1::text IS NULL OR class = $1) AND ($2::text IS NULL OR device_id = $2) AND received_at >= $3
          ORDER BY id DESC LIMIT $4`,
          [filter.deviceClass ?? null, filter.deviceId ?? null, filter.since ?? 0, filter.limit ?? 1000],
        )
      )
        .reverse()
        .map(
          (r): BreachRow => ({
            id: r.id,
            receivedAt: r.received_at,
            breach: decodeJson(breachSchema, r.doc, { table: 'telemetry_breaches', column: 'doc', key: r.id }),
          }),
        ),
    prune: (windowsBefore, rollupsBefore) =>
      db.tx(
        async (sql) =>
          (await sql.run('DELETE FROM telemetry_windows WHERE window_end < $1', [windowsBefore])) +
          (await sql.run('DELETE FROM telemetry_class_minutes WHERE minute < $1', [rollupsBefore])),
      ),
  } satisfies TelemetryRepository);
}
