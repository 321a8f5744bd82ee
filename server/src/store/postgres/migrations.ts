/**
 * The schema migrations of ../sqlite/migrations.ts, in Postgres's dialect: the same versions,
 * names and tables, so one store's history reads like the other's (a test holds the two lists
 * together). Types differ only where the dialects do: ms timestamps, sizes and seqs are BIGINT,
 * SQLite's REAL is DOUBLE PRECISION, AUTOINCREMENT keys are identity columns, and JSON stays TEXT
 * so both stores decode it through the same zod schemas (store/decode.ts). Append new ones in
 * both files; never edit a released one.
 */
import type { Migration } from '../sqlite/migrations.js';

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'device classes and devices',
    sql: `
      CREATE TABLE device_classes (
        name        TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        budgets     TEXT,
        created_at  BIGINT NOT NULL
      );
      CREATE TABLE devices (
        id             TEXT PRIMARY KEY,
        class          TEXT NOT NULL REFERENCES device_classes(name),
        state          TEXT NOT NULL CHECK (state IN ('online', 'offline')),
        state_reason   TEXT NOT NULL,
        state_at       BIGINT NOT NULL,
        capabilities   TEXT NOT NULL,
        agent_version  TEXT NOT NULL,
        runtime        TEXT NOT NULL,
        current_model  TEXT,
        first_seen     BIGINT NOT NULL,
        last_seen      BIGINT NOT NULL
      );
      CREATE INDEX devices_by_class ON devices(class);
      CREATE INDEX devices_by_state_last_seen ON devices(state, last_seen);
    `,
  },
  {
    version: 2,
    name: 'class profiles, models, variants and plans (planner)',
    sql: `
      ALTER TABLE device_classes ADD COLUMN profile TEXT;
      ALTER TABLE device_classes ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE device_classes ADD COLUMN updated_at BIGINT;

      CREATE TABLE models (
        sha256      TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        path        TEXT NOT NULL,
        bytes       BIGINT NOT NULL,
        eval_spec   TEXT NOT NULL,
        shapes      TEXT NOT NULL DEFAULT '{}',
        created_at  BIGINT NOT NULL
      );
      CREATE INDEX models_by_name ON models(name, created_at);

      CREATE TABLE variants (
        model_sha     TEXT NOT NULL REFERENCES models(sha256) ON DELETE CASCADE,
        recipe_key    TEXT NOT NULL,
        recipe_name   TEXT NOT NULL,
        recipe        TEXT NOT NULL,
        precision     TEXT NOT NULL,
        artifact_sha  TEXT,
        artifact_path TEXT,
        bytes         BIGINT,
        report        TEXT,
        evaluation    TEXT,
        error         TEXT,
        created_at    BIGINT NOT NULL,
        PRIMARY KEY (model_sha, recipe_key)
      );

      CREATE TABLE plans (
        id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        class          TEXT NOT NULL,
        class_version  INTEGER NOT NULL,
        model_sha      TEXT NOT NULL REFERENCES models(sha256) ON DELETE CASCADE,
        inputs_key     TEXT NOT NULL,
        plan           TEXT NOT NULL,
        created_at     BIGINT NOT NULL,
        invalidated_at BIGINT
      );
      CREATE INDEX plans_by_class ON plans(class, invalidated_at);
      CREATE INDEX plans_by_inputs ON plans(inputs_key, invalidated_at);
    `,
  },
  {
    version: 10,
    name: 'artifacts, rollouts, per-device deployments and deploy reports (deploy)',
    sql: `
      CREATE TABLE artifacts (
        sha256      TEXT PRIMARY KEY,
        size        BIGINT NOT NULL,
        chunk_size  INTEGER NOT NULL,
        chunks      TEXT NOT NULL,
        created_at  BIGINT NOT NULL
      );

      CREATE TABLE rollouts (
        id              TEXT PRIMARY KEY,
        class           TEXT NOT NULL,
        variant_id      TEXT NOT NULL,
        artifact_sha    TEXT NOT NULL,
        golden          TEXT NOT NULL,
        budgets         TEXT,
        policy          TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('in-progress', 'rolling-back', 'completed', 'aborted')),
        current_wave    INTEGER NOT NULL,
        wave_count      INTEGER NOT NULL,
        reason          TEXT,
        created_at      BIGINT NOT NULL,
        updated_at      BIGINT NOT NULL,
        finished_at     BIGINT
      );
      CREATE INDEX rollouts_by_state ON rollouts(state);

      CREATE TABLE rollout_devices (
        rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
        device_id       TEXT NOT NULL,
        wave            INTEGER NOT NULL,
        state           TEXT NOT NULL,
        deployment_id   TEXT NOT NULL,
        previous        TEXT,
        rollback_id     TEXT,
        agent_state     TEXT,
        failure         TEXT,
        notified_at     BIGINT,
        rollback_at     BIGINT,
        finished_at     BIGINT,
        updated_at      BIGINT NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
      );
      CREATE UNIQUE INDEX rollout_devices_by_deployment ON rollout_devices(deployment_id);
      CREATE INDEX rollout_devices_by_rollback ON rollout_devices(rollback_id);
      CREATE INDEX rollout_devices_by_device ON rollout_devices(device_id, finished_at);

      CREATE TABLE deploy_reports (
        deployment_id TEXT NOT NULL,
        state         TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        received_at   BIGINT NOT NULL,
        report        TEXT NOT NULL,
        PRIMARY KEY (deployment_id, state)
      );
    `,
  },
  {
    version: 11,
    name: 'rollout origins and class desired state (deploy)',
    sql: `
      CREATE TABLE rollout_origins (
        rollout_id         TEXT PRIMARY KEY REFERENCES rollouts(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL CHECK (kind IN ('class', 'devices', 'catch-up')),
        source_rollout_id  TEXT,
        reason             TEXT
      );
      CREATE TABLE class_desired_state (
        class         TEXT PRIMARY KEY,
        rollout_id    TEXT NOT NULL,
        variant_id    TEXT NOT NULL,
        artifact_sha  TEXT NOT NULL,
        set_at        BIGINT NOT NULL
      );
    `,
  },
  {
    version: 12,
    name: 'artifacts may travel encoded (deploy)',
    sql: `
      ALTER TABLE artifacts ADD COLUMN encoding TEXT CHECK (encoding IS NULL OR encoding = 'gzip');
      ALTER TABLE artifacts ADD COLUMN encoded_size BIGINT;
    `,
  },
  {
    version: 20,
    name: 'admin tokens, enrollment tokens and device credentials (auth)',
    sql: `
      CREATE TABLE admin_tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'admin')),
        hash         TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at   BIGINT
      );
      CREATE TABLE enroll_tokens (
        id          TEXT PRIMARY KEY,
        class       TEXT NOT NULL,
        hash        TEXT NOT NULL,
        max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
        uses        INTEGER NOT NULL DEFAULT 0,
        expires_at  BIGINT NOT NULL,
        created_at  BIGINT NOT NULL,
        revoked_at  BIGINT
      );
      CREATE TABLE device_credentials (
        device_id        TEXT PRIMARY KEY,
        class            TEXT,
        hash             TEXT NOT NULL,
        enroll_token_id  TEXT,
        created_at       BIGINT NOT NULL,
        revoked_at       BIGINT
      );
    `,
  },
  {
    version: 30,
    name: 'telemetry windows, gaps, per-class minute rollups and breach events',
    sql: `
      CREATE TABLE telemetry_windows (
        device_id       TEXT NOT NULL,
        seq             BIGINT NOT NULL,
        class           TEXT NOT NULL,
        window_start    BIGINT NOT NULL,
        window_end      BIGINT NOT NULL,
        received_at     BIGINT NOT NULL,
        model_sha       TEXT,
        variant_id      TEXT,
        inferences      BIGINT NOT NULL,
        errors          BIGINT NOT NULL,
        p50_ms          DOUBLE PRECISION,
        p95_ms          DOUBLE PRECISION,
        p99_ms          DOUBLE PRECISION,
        max_ms          DOUBLE PRECISION,
        mean_ms         DOUBLE PRECISION,
        duty_cycle      DOUBLE PRECISION NOT NULL,
        power_w         DOUBLE PRECISION,
        energy_mj       DOUBLE PRECISION,
        power_source    TEXT,
        golden_accuracy DOUBLE PRECISION,
        confidence      DOUBLE PRECISION,
        rss_bytes       BIGINT NOT NULL,
        cpu_temp_c      DOUBLE PRECISION,
        throttled       INTEGER,
        dropped_total   BIGINT NOT NULL,
        doc             TEXT NOT NULL,
        PRIMARY KEY (device_id, seq)
      );
      CREATE INDEX telemetry_windows_by_class ON telemetry_windows(class, window_end);
      CREATE INDEX telemetry_windows_by_end ON telemetry_windows(window_end);

      CREATE TABLE telemetry_devices (
        device_id        TEXT PRIMARY KEY,
        class            TEXT NOT NULL,
        max_seq          BIGINT NOT NULL,
        windows          BIGINT NOT NULL,
        duplicates       BIGINT NOT NULL,
        dropped_total    BIGINT NOT NULL,
        last_window_end  BIGINT NOT NULL,
        last_received_at BIGINT NOT NULL
      );

      CREATE TABLE telemetry_gaps (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id   TEXT NOT NULL,
        from_seq    BIGINT NOT NULL,
        to_seq      BIGINT NOT NULL,
        filled      BIGINT NOT NULL DEFAULT 0,
        detected_at BIGINT NOT NULL,
        closed_at   BIGINT
      );
      CREATE INDEX telemetry_gaps_by_device ON telemetry_gaps(device_id, closed_at);

      CREATE TABLE telemetry_class_minutes (
        class              TEXT NOT NULL,
        minute             BIGINT NOT NULL,
        windows            BIGINT NOT NULL,
        inferences         BIGINT NOT NULL,
        p95_sum            DOUBLE PRECISION NOT NULL,
        p95_n              BIGINT NOT NULL,
        p95_max            DOUBLE PRECISION,
        power_sum          DOUBLE PRECISION NOT NULL,
        power_n            BIGINT NOT NULL,
        energy_sum         DOUBLE PRECISION NOT NULL,
        energy_n           BIGINT NOT NULL,
        accuracy_sum       DOUBLE PRECISION NOT NULL,
        accuracy_n         BIGINT NOT NULL,
        confidence_sum     DOUBLE PRECISION NOT NULL,
        confidence_n       BIGINT NOT NULL,
        throttled_windows  BIGINT NOT NULL,
        PRIMARY KEY (class, minute)
      );

      CREATE TABLE telemetry_breaches (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id   TEXT NOT NULL,
        class       TEXT NOT NULL,
        budget      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('breached', 'recovered')),
        measured    DOUBLE PRECISION NOT NULL,
        limit_value DOUBLE PRECISION NOT NULL,
        unit        TEXT NOT NULL,
        model_sha   TEXT,
        throttled   INTEGER NOT NULL,
        sent_at     BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        doc         TEXT NOT NULL
      );
      CREATE INDEX telemetry_breaches_by_class ON telemetry_breaches(class, received_at);
      CREATE INDEX telemetry_breaches_by_device ON telemetry_breaches(device_id, received_at);
    `,
  },
  {
    version: 31,
    name: 'breach events deduplicated by device, budget and raising window (telemetry acks)',
    sql: `
      ALTER TABLE telemetry_breaches ADD COLUMN window_seq BIGINT;
      UPDATE telemetry_breaches SET window_seq = (doc::jsonb -> 'windowSeqs' ->> -1)::bigint;
      DELETE FROM telemetry_breaches WHERE window_seq IS NOT NULL AND id NOT IN (
        SELECT MIN(id) FROM telemetry_breaches WHERE window_seq IS NOT NULL GROUP BY device_id, budget, window_seq);
      CREATE UNIQUE INDEX telemetry_breaches_identity ON telemetry_breaches(device_id, budget, window_seq);
    `,
  },
  {
    version: 32,
    name: 'telemetry sequence epochs (a device whose seq restarts)',
    sql: `
      -- As on SQLite: each epoch of a device gets an index, and stored rows carry
      -- seq = idx * 2^32 + the device's seq [EF-PROTO 8.1].
      CREATE TABLE telemetry_epochs (
        device_id  TEXT NOT NULL,
        epoch      TEXT NOT NULL,
        idx        INTEGER NOT NULL,
        first_seen BIGINT NOT NULL,
        PRIMARY KEY (device_id, epoch),
        UNIQUE (device_id, idx)
      );
    `,
  },
  {
    version: 21,
    name: 'mosquitto password hashes beside credentials (auth)',
    sql: `
      ALTER TABLE device_credentials ADD COLUMN broker_hash TEXT;
      ALTER TABLE enroll_tokens ADD COLUMN broker_hash TEXT;
    `,
  },
  {
    version: 22,
    name: 'enrollment sessions: a retried enrollment finds its device again (auth)',
    sql: `
      ALTER TABLE device_credentials ADD COLUMN enroll_session TEXT;
      CREATE UNIQUE INDEX device_credentials_enroll_session
        ON device_credentials(enroll_token_id, enroll_session) WHERE enroll_session IS NOT NULL;
    `,
  },
  {
    version: 40,
    name: 'control loop decisions and per-class memory (closed loop)',
    sql: `
      CREATE TABLE control_decisions (
        id          TEXT PRIMARY KEY,
        class       TEXT NOT NULL,
        at          BIGINT NOT NULL,
        kind        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        budgets     TEXT NOT NULL,
        summary     TEXT NOT NULL,
        actions     TEXT NOT NULL,
        outcome     TEXT
      );
      CREATE INDEX control_decisions_by_class ON control_decisions(class, at);

      CREATE TABLE control_state (
        class         TEXT PRIMARY KEY,
        memory        TEXT NOT NULL,
        desired_hash  TEXT,
        updated_at    BIGINT NOT NULL
      );
    `,
  },
  {
    version: 41,
    name: 'ownership fencing tokens (replicas)',
    sql: `
      -- One row per once-only key (e.g. rollouts): the token of its current tenure, raised by
      -- each replica that takes the key; a write of that work carrying an older token is refused.
      -- A single server (SQLite) never raises it: the table is here so both stores keep one list.
      CREATE TABLE ownership_fences (
        key   TEXT PRIMARY KEY,
        token BIGINT NOT NULL
      );
    `,
  },
];
