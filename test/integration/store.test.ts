import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { isEdgefleetError, asError, type Hello } from '@edgefleet/shared';
import { listDevices, openStore, STORE_FILE } from '@edgefleet/server';
import { MIGRATIONS } from '@edgefleet/server/store/sqlite/migrations';

/** Second connections to the store file only read it. */
const READONLY = true;

const hello = (deviceId: string, deviceClass = 'rpi4'): Hello => ({
  type: 'hello',
  v: 1,
  deviceId,
  deviceClass,
  agentVersion: '0.1.0',
  runtime: { node: 'v20', onnxruntime: '1.30.0' },
  capabilities: {
    cpuModel: 'cpu',
    cores: 4,
    memoryBytes: 1024,
    executionProviders: ['cpu'],
    precisions: ['fp32'],
    powerSource: 'none',
  },
  currentModel: null,
  sentAt: 100,
});

t.test('a fresh store is migrated, in WAL mode, with a version table', async (t) => {
  const dir = t.testdir();
  const store = openStore({ dataDir: dir });
  t.equal(store.schemaVersion(), MIGRATIONS.at(-1)?.version);
  store.close();
  store.close();
  const db = new Database(join(dir, STORE_FILE), { readonly: READONLY });
  t.teardown(() => db.close());
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>
  ).map((r) => r.name);
  for (const table of ['device_classes', 'devices', 'schema_version'])
    t.ok(tables.includes(table), `table ${table} exists`);
  // Areas own version ranges, so every migration must be recorded, not just the highest.
  const recorded = (
    db.prepare('SELECT version FROM schema_version ORDER BY version').all() as Array<{ version: number }>
  ).map((r) => r.version);
  t.same(
    recorded,
    MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
    'every migration is recorded once',
  );
});

t.test('devices survive a reopen and the read-only listing sees them', async (t) => {
  const dir = t.testdir();
  const store = openStore({ dataDir: dir });
  store.devices.upsertHello(hello('a-1'), 1000);
  store.devices.upsertHello(hello('b-1', 'jetson'), 1001);
  t.ok(store.devices.setState('a-1', 'offline', 'clean', 200, 1500));
  t.notOk(store.devices.setState('nobody', 'offline', 'clean', 200, 1500), 'unknown device');
  t.ok(store.devices.touch('b-1', 2000, 'f'.repeat(64)));
  t.notOk(store.devices.touch('nobody', 2000));
  // Read while the writer is still open, as `edgefleet devices` does next to a running server.
  t.same(
    listDevices(dir).map((d) => [d.id, d.state, d.lastSeen]),
    [
      ['b-1', 'online', 2000],
      ['a-1', 'offline', 1500],
    ],
  );
  store.close();
  const again = openStore({ dataDir: dir });
  t.teardown(() => again.close());
  t.equal(again.devices.get('b-1')?.currentModel, 'f'.repeat(64));
  t.equal(again.devices.get('a-1')?.stateReason, 'clean');
  t.equal(again.devices.get('a-1')?.firstSeen, 1000);
  again.devices.upsertHello({ ...hello('a-1'), agentVersion: '0.2.0' }, 3000);
  t.match(again.devices.get('a-1'), { state: 'online', agentVersion: '0.2.0', firstSeen: 1000, lastSeen: 3000 });
});

t.test('a retained status (no "now") changes state but not last-seen; the sweep marks silence stale', async (t) => {
  const store = openStore({ dataDir: t.testdir() });
  t.teardown(() => store.close());
  store.devices.upsertHello(hello('a-1'), 1000);
  store.devices.upsertHello(hello('a-2'), 5000);
  store.devices.setState('a-1', 'online', 'connect', 900, null);
  t.equal(store.devices.get('a-1')?.lastSeen, 1000);
  t.same(store.devices.markStale(2000, 6000), ['a-1']);
  t.same(store.devices.markStale(2000, 6000), [], 'already offline devices are not swept twice');
  t.equal(store.devices.get('a-1')?.stateReason, 'stale');
  t.equal(store.devices.get('a-2')?.state, 'online');
});

t.test('listing a directory without a store says what to do', async (t) => {
  try {
    listDevices(t.testdir());
    t.fail('should throw');
  } catch (err: unknown) {
    t.ok(isEdgefleetError(err, 'EF_ERR_STORE_OPEN'));
    t.match(asError(err).message, /edgefleet server/);
  }
});

t.test('a failing migration rolls back and reports its version', async (t) => {
  const dir = t.testdir();
  const broken = [
    ...MIGRATIONS,
    { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x INTEGER); SELECT nope FROM missing;' },
  ];
  t.throws(() => openStore({ dataDir: dir, migrations: broken }), { code: 'EF_ERR_STORE_MIGRATION' });
  const store = openStore({ dataDir: dir });
  t.equal(store.schemaVersion(), MIGRATIONS.at(-1)?.version, 'the good migrations stayed');
  store.close();
  const db = new Database(join(dir, STORE_FILE), { readonly: READONLY });
  t.teardown(() => db.close());
  t.equal(
    (db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'half_done'").get() as { n: number }).n,
    0,
    'no half-applied table',
  );
});

t.test('a store newer than this code is refused', async (t) => {
  const dir = t.testdir();
  openStore({
    dataDir: dir,
    migrations: [...MIGRATIONS, { version: 50, name: 'future', sql: 'CREATE TABLE future (x INTEGER);' }],
  }).close();
  t.throws(() => openStore({ dataDir: dir }), { code: 'EF_ERR_STORE_MIGRATION' });
});

t.test(
  'migration 31 names stored breach events by their raising window and keeps the first of a pair stored twice',
  async (t) => {
    const dir = t.testdir();
    openStore({ dataDir: dir, migrations: MIGRATIONS.filter((m) => m.version !== 31) }).close();
    const db = new Database(join(dir, STORE_FILE));
    const insert =
      db.prepare(`INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit, model_sha, throttled, sent_at, received_at, doc)
    VALUES (?, 'rpi4', ?, ?, 70, 50, 'ms', NULL, 0, 1, ?, ?)`);
    const doc = (windowSeqs: number[]) => JSON.stringify({ windowSeqs });
    insert.run('dev-a', 'latencyP95Ms', 'breached', 1, doc([0, 1, 2]));
    insert.run('dev-a', 'latencyP95Ms', 'breached', 2, doc([0, 1, 2])); // the same event, redelivered
    insert.run('dev-a', 'latencyP95Ms', 'recovered', 3, doc([3, 4, 5]));
    insert.run('dev-a', 'powerW', 'breached', 4, doc([0, 1, 2]));
    insert.run('dev-b', 'latencyP95Ms', 'breached', 5, doc([0, 1, 2]));
    db.close();
    const store = openStore({ dataDir: dir });
    store.close();
    const after = new Database(join(dir, STORE_FILE), { readonly: READONLY });
    t.teardown(() => after.close());
    const rows = after
      .prepare('SELECT device_id, budget, window_seq, received_at FROM telemetry_breaches ORDER BY id')
      .all();
    t.same(
      rows,
      [
        { device_id: 'dev-a', budget: 'latencyP95Ms', window_seq: 2, received_at: 1 },
        { device_id: 'dev-a', budget: 'latencyP95Ms', window_seq: 5, received_at: 3 },
        { device_id: 'dev-a', budget: 'powerW', window_seq: 2, received_at: 4 },
        { device_id: 'dev-b', budget: 'latencyP95Ms', window_seq: 2, received_at: 5 },
      ],
      'the raising seq is the last of windowSeqs; only the redelivered copy is gone',
    );
  },
);

t.test('an unusable data directory is EF_ERR_STORE_OPEN', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' });
  t.throws(() => openStore({ dataDir: join(dir, 'a-file', 'sub') }), { code: 'EF_ERR_STORE_OPEN' });
});
