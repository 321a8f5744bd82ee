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
  {
    version: 2,
    name: 'class profiles, models, variants and plans (planner)',
    sql: `
      -- The class document (capabilities, speed/power models, sources) as JSON; NULL for a
      -- class only known from a device's hello. version bumps on every update.
      ALTER TABLE device_classes ADD COLUMN profile TEXT;
      ALTER TABLE device_classes ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE device_classes ADD COLUMN updated_at INTEGER;

      CREATE TABLE models (
        sha256      TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        -- path of the stored bytes, relative to the data directory
        path        TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        -- evaluation data spec (mnist, a sample dir, random:N) and fixed input shapes (JSON)
        eval_spec   TEXT NOT NULL,
        shapes      TEXT NOT NULL DEFAULT '{}',
        created_at  INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX models_by_name ON models(name, created_at);

      CREATE TABLE variants (
        model_sha     TEXT NOT NULL REFERENCES models(sha256) ON DELETE CASCADE,
        -- sha256 of the canonical recipe JSON: the cache key together with model_sha
        recipe_key    TEXT NOT NULL,
        recipe_name   TEXT NOT NULL,
        recipe        TEXT NOT NULL,
        precision     TEXT NOT NULL,
        artifact_sha  TEXT,
        artifact_path TEXT,
        bytes         INTEGER,
        -- JSON: compression report, evaluation result; error text when the recipe failed
        report        TEXT,
        evaluation    TEXT,
        error         TEXT,
        created_at    INTEGER NOT NULL,
        PRIMARY KEY (model_sha, recipe_key)
      ) STRICT;

      CREATE TABLE plans (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        class         TEXT NOT NULL,
        class_version INTEGER NOT NULL,
        model_sha     TEXT NOT NULL REFERENCES models(sha256) ON DELETE CASCADE,
        -- sha256 of the plan's inputs (model, recipes, class version, speed model, override)
        inputs_key    TEXT NOT NULL,
        plan          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        -- set when the class changed after this plan was made; such plans are never reused
        invalidated_at INTEGER
      ) STRICT;
      CREATE INDEX plans_by_class ON plans(class, invalidated_at);
      CREATE INDEX plans_by_inputs ON plans(inputs_key, invalidated_at);
    `,
  },
  {
    version: 10,
    name: 'artifacts, rollouts, per-device deployments and deploy reports (deploy)',
    sql: `
      -- Content-addressed artifacts under <dataDir>/artifacts/<sha256>.onnx; chunks is the
      -- JSON list of per-chunk sha256 so a manifest never re-hashes a large file.
      CREATE TABLE artifacts (
        sha256      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        chunk_size  INTEGER NOT NULL,
        chunks      TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE rollouts (
        id              TEXT PRIMARY KEY,
        class           TEXT NOT NULL,
        variant_id      TEXT NOT NULL,
        artifact_sha    TEXT NOT NULL,
        -- JSON: golden set, class budgets, policy (waves, abort criteria, timeouts)
        golden          TEXT NOT NULL,
        budgets         TEXT,
        policy          TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('in-progress', 'rolling-back', 'completed', 'aborted')),
        current_wave    INTEGER NOT NULL,
        wave_count      INTEGER NOT NULL,
        reason          TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        finished_at     INTEGER
      ) STRICT;
      CREATE INDEX rollouts_by_state ON rollouts(state);

      -- One row per device of a rollout: its wave, its deployment of the new variant and,
      -- after an abort, its rollback deployment.
      CREATE TABLE rollout_devices (
        rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
        device_id       TEXT NOT NULL,
        wave            INTEGER NOT NULL,
        state           TEXT NOT NULL,
        deployment_id   TEXT NOT NULL,
        -- JSON {variantId, sha256, rolloutId} of what the device ran before, or NULL
        previous        TEXT,
        rollback_id     TEXT,
        agent_state     TEXT,
        failure         TEXT,
        notified_at     INTEGER,
        rollback_at     INTEGER,
        finished_at     INTEGER,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
      ) STRICT;
      CREATE UNIQUE INDEX rollout_devices_by_deployment ON rollout_devices(deployment_id);
      CREATE INDEX rollout_devices_by_rollback ON rollout_devices(rollback_id);
      CREATE INDEX rollout_devices_by_device ON rollout_devices(device_id, finished_at);

      -- Dedupe of agent reports: QoS 1 and manifest redelivery repeat them.
      CREATE TABLE deploy_reports (
        deployment_id TEXT NOT NULL,
        state         TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        received_at   INTEGER NOT NULL,
        report        TEXT NOT NULL,
        PRIMARY KEY (deployment_id, state)
      ) STRICT;
    `,
  },
  {
    version: 11,
    name: 'rollout origins and class desired state (deploy)',
    sql: `
      -- Why a rollout exists: for the whole class, for chosen devices (a cohort), or to bring late
      -- or returning members to the class's desired state. Rollouts from before have no row: class.
      CREATE TABLE rollout_origins (
        rollout_id         TEXT PRIMARY KEY REFERENCES rollouts(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL CHECK (kind IN ('class', 'devices', 'catch-up')),
        -- catch-up: the class rollout whose variant the class should run
        source_rollout_id  TEXT,
        reason             TEXT
      ) STRICT;

      -- What every member of a class should run: the variant of its latest completed class-wide rollout.
      CREATE TABLE class_desired_state (
        class         TEXT PRIMARY KEY,
        rollout_id    TEXT NOT NULL,
        variant_id    TEXT NOT NULL,
        artifact_sha  TEXT NOT NULL,
        set_at        INTEGER NOT NULL
      ) STRICT;
      `,
  },
  {
    version: 12,
    name: 'artifacts may travel encoded (deploy)',
    sql: `
      -- NULL: the artifact travels as it is; 'gzip': its chunks cut <sha256>.onnx.gz, which
      -- holds encoded_size bytes [EF-PROTO 6.3].
      ALTER TABLE artifacts ADD COLUMN encoding TEXT CHECK (encoding IS NULL OR encoding = 'gzip');
      ALTER TABLE artifacts ADD COLUMN encoded_size INTEGER;
    `,
  },
  {
    version: 20,
    name: 'admin tokens, enrollment tokens and device credentials (auth)',
    sql: `
      -- Only sha256 hashes of tokens and secrets are stored: they are 256-bit random values,
      -- so a fast hash is enough (scrypt is for guessable passwords).
      CREATE TABLE admin_tokens (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'admin')),
        hash         TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER
      ) STRICT;

      CREATE TABLE enroll_tokens (
        id          TEXT PRIMARY KEY,
        class       TEXT NOT NULL,
        hash        TEXT NOT NULL,
        max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
        uses        INTEGER NOT NULL DEFAULT 0,
        expires_at  INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;

      -- Not a foreign key to devices: a credential exists before the device's first hello.
      CREATE TABLE device_credentials (
        device_id        TEXT PRIMARY KEY,
        class            TEXT,
        hash             TEXT NOT NULL,
        enroll_token_id  TEXT,
        created_at       INTEGER NOT NULL,
        revoked_at       INTEGER
      ) STRICT;
    `,
  },
  {
    version: 30,
    name: 'telemetry windows, gaps, per-class minute rollups and breach events',
    sql: `
      -- One row per device window [EF-PROTO 8]; (device_id, seq) deduplicates redeliveries.
      -- Figures the queries filter or aggregate on are columns; the whole message is in doc.
      CREATE TABLE telemetry_windows (
        device_id       TEXT NOT NULL,
        seq             INTEGER NOT NULL,
        class           TEXT NOT NULL,
        window_start    INTEGER NOT NULL,
        window_end      INTEGER NOT NULL,
        received_at     INTEGER NOT NULL,
        model_sha       TEXT,
        variant_id      TEXT,
        inferences      INTEGER NOT NULL,
        errors          INTEGER NOT NULL,
        p50_ms          REAL,
        p95_ms          REAL,
        p99_ms          REAL,
        max_ms          REAL,
        mean_ms         REAL,
        duty_cycle      REAL NOT NULL,
        power_w         REAL,
        energy_mj       REAL,
        power_source    TEXT,
        golden_accuracy REAL,
        confidence      REAL,
        rss_bytes       INTEGER NOT NULL,
        cpu_temp_c      REAL,
        throttled       INTEGER,
        dropped_total   INTEGER NOT NULL,
        doc             TEXT NOT NULL,
        PRIMARY KEY (device_id, seq)
      ) STRICT;
      CREATE INDEX telemetry_windows_by_class ON telemetry_windows(class, window_end);
      CREATE INDEX telemetry_windows_by_end ON telemetry_windows(window_end);

      -- Per device: the highest seq seen and counters, so dedupe and gap detection survive retention.
      CREATE TABLE telemetry_devices (
        device_id        TEXT PRIMARY KEY,
        class            TEXT NOT NULL,
        max_seq          INTEGER NOT NULL,
        windows          INTEGER NOT NULL,
        duplicates       INTEGER NOT NULL,
        dropped_total    INTEGER NOT NULL,
        last_window_end  INTEGER NOT NULL,
        last_received_at INTEGER NOT NULL
      ) STRICT;

      -- Missing seq ranges [from_seq, to_seq]; filled counts late arrivals, closed_at is set once all arrived.
      CREATE TABLE telemetry_gaps (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id   TEXT NOT NULL,
        from_seq    INTEGER NOT NULL,
        to_seq      INTEGER NOT NULL,
        filled      INTEGER NOT NULL DEFAULT 0,
        detected_at INTEGER NOT NULL,
        closed_at   INTEGER
      ) STRICT;
      CREATE INDEX telemetry_gaps_by_device ON telemetry_gaps(device_id, closed_at);

      -- Per class and minute (window_end floored): sums and counts, so means combine exactly.
      CREATE TABLE telemetry_class_minutes (
        class              TEXT NOT NULL,
        minute             INTEGER NOT NULL,
        windows            INTEGER NOT NULL,
        inferences         INTEGER NOT NULL,
        p95_sum            REAL NOT NULL,
        p95_n              INTEGER NOT NULL,
        p95_max            REAL,
        power_sum          REAL NOT NULL,
        power_n            INTEGER NOT NULL,
        energy_sum         REAL NOT NULL,
        energy_n           INTEGER NOT NULL,
        accuracy_sum       REAL NOT NULL,
        accuracy_n         INTEGER NOT NULL,
        confidence_sum     REAL NOT NULL,
        confidence_n       INTEGER NOT NULL,
        throttled_windows  INTEGER NOT NULL,
        PRIMARY KEY (class, minute)
      ) STRICT;

      CREATE TABLE telemetry_breaches (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id   TEXT NOT NULL,
        class       TEXT NOT NULL,
        budget      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('breached', 'recovered')),
        measured    REAL NOT NULL,
        limit_value REAL NOT NULL,
        unit        TEXT NOT NULL,
        model_sha   TEXT,
        throttled   INTEGER NOT NULL,
        sent_at     INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        doc         TEXT NOT NULL
      ) STRICT;
      CREATE INDEX telemetry_breaches_by_class ON telemetry_breaches(class, received_at);
      CREATE INDEX telemetry_breaches_by_device ON telemetry_breaches(device_id, received_at);
    `,
  },
  {
    version: 31,
    name: 'breach events deduplicated by device, budget and raising window (telemetry acks)',
    sql: `
      -- Agents now resend until the server acknowledges [EF-PROTO 8.2], so a breach event can
      -- arrive twice. It is named by (device, budget, seq of the window that raised it: the
      -- last of windowSeqs). Rows stored twice before this (QoS 1 redeliveries) keep the first.
      ALTER TABLE telemetry_breaches ADD COLUMN window_seq INTEGER;
      UPDATE telemetry_breaches SET window_seq = json_extract(doc, '$.windowSeqs[#-1]');
      DELETE FROM telemetry_breaches WHERE window_seq IS NOT NULL AND id NOT IN (
        SELECT MIN(id) FROM telemetry_breaches WHERE window_seq IS NOT NULL GROUP BY device_id, budget, window_seq);
      CREATE UNIQUE INDEX telemetry_breaches_identity ON telemetry_breaches(device_id, budget, window_seq);
    `,
  },
  {
    version: 32,
    name: 'telemetry sequence epochs (a device whose seq restarts)',
    sql: `
      -- A device's seq restarts when its data directory is lost; its agent then names a new
      -- epoch [EF-PROTO 8.1]. Each epoch of a device gets an index; stored rows carry
      -- seq = idx * 2^32 + the device's seq, so epochs never collide and rows of devices
      -- from before epochs (index 0, epoch '') keep their seq.
      CREATE TABLE telemetry_epochs (
        device_id  TEXT NOT NULL,
        epoch      TEXT NOT NULL,
        idx        INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (device_id, epoch),
        UNIQUE (device_id, idx)
      ) STRICT;
    `,
  },
  {
    version: 21,
    name: 'mosquitto password hashes beside credentials (auth)',
    sql: `
      -- PBKDF2-SHA512 ($7$) hashes for an external mosquitto's password file, computed when a
      -- credential or enrollment token is issued: they cannot be derived from the sha256 later.
      ALTER TABLE device_credentials ADD COLUMN broker_hash TEXT;
      ALTER TABLE enroll_tokens ADD COLUMN broker_hash TEXT;
    `,
  },
  {
    version: 22,
    name: 'enrollment sessions: a retried enrollment finds its device again (auth)',
    sql: `
      -- The agent's enrollment session (16 hex): asking again with the same token and session
      -- returns the same device with a new secret instead of counting a second use.
      ALTER TABLE device_credentials ADD COLUMN enroll_session TEXT;
      CREATE UNIQUE INDEX device_credentials_enroll_session
        ON device_credentials(enroll_token_id, enroll_session) WHERE enroll_session IS NOT NULL;
    `,
  },
  {
    version: 40,
    name: 'control loop decisions and per-class memory (closed loop)',
    sql: `
      -- Every stored decision of the control loop: what it saw (summary), why, and what it did.
      CREATE TABLE control_decisions (
        id          TEXT PRIMARY KEY,
        class       TEXT NOT NULL,
        at          INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        budgets     TEXT NOT NULL,
        summary     TEXT NOT NULL,
        actions     TEXT NOT NULL,
        -- what act did with each action (started rollout id, skipped, error)
        outcome     TEXT
      ) STRICT;
      CREATE INDEX control_decisions_by_class ON control_decisions(class, at);

      -- The loop's memory of a class between ticks (episode, cooldown, failed variants) and
      -- the hash of the last desired state act carried out, so act is idempotent.
      CREATE TABLE control_state (
        class         TEXT PRIMARY KEY,
        memory        TEXT NOT NULL,
        desired_hash  TEXT,
        updated_at    INTEGER NOT NULL
      ) STRICT;
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
        token INTEGER NOT NULL
      ) STRICT;
    `,
  },
];
