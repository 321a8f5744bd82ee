/**
 * Schema migrations, in order, as data. Append new ones; never edit a released one. Each runs
 * in a transaction together with its row in `schema_version`.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'device classes and devices',
    sql: `
      CREATE TABLE device_classes (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        -- JSON budgets (latency, size, power, accuracy); filled by the planner issue.
        budgets     TEXT,
        created_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE devices (
        id             TEXT PRIMARY KEY,
        class          TEXT NOT NULL REFERENCES device_classes(name),
        state          TEXT NOT NULL CHECK (state IN ('online', 'offline')),
        -- why the device went offline: clean disconnect, lost (last will) or stale (sweep)
        state_reason   TEXT NOT NULL,
        -- sentAt (device clock) of the presence message that set state
        state_at       INTEGER NOT NULL,
        capabilities   TEXT NOT NULL,
        agent_version  TEXT NOT NULL,
        runtime        TEXT NOT NULL,
        current_model  TEXT,
        first_seen     INTEGER NOT NULL,
        last_seen      INTEGER NOT NULL
      ) STRICT;

      CREATE INDEX devices_by_class ON devices(class);
      CREATE INDEX devices_by_state_last_seen ON devices(state, last_seen);
    `,
  },
];
