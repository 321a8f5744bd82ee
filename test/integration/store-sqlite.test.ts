import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { asError, isEdgefleetError, type Hello } from '@edgefleet/shared';
import { openSqliteStore, STORE_FILE } from '@edgefleet/server';
import { MIGRATIONS } from '@edgefleet/server/store/sqlite/migrations';
import { repositoryContract } from '../contract/repositories.js';

/** Test connections to the store file only read it. */
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
  const store = openSqliteStore({ dataDir: dir });
  t.equal(await store.schemaVersion(), MIGRATIONS.at(-1)?.version);
  await store.close();
  await store.close();
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

t.test('the repository contract holds on SQLite', async (t) => {
  await repositoryContract(t, 'sqlite', async (t) => openSqliteStore({ dataDir: t.testdir() }));
});

t.test('devices survive a reopen', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  await store.repos.devices.upsertHello(hello('a-1'), 1000);
  await store.repos.devices.upsertHello(hello('b-1', 'jetson'), 1001);
  t.ok(await store.repos.devices.setState('a-1', 'offline', 'clean', 200, 1500));
  t.ok(await store.repos.devices.touch('b-1', 2000, 'f'.repeat(64)));
  await store.close();
  const again = openSqliteStore({ dataDir: dir });
  t.teardown(() => again.close());
  t.same(
    (await again.repos.devices.list()).map((d) => [d.id, d.state, d.lastSeen]),
    [
      ['b-1', 'online', 2000],
      ['a-1', 'offline', 1500],
    ],
  );
  t.equal((await again.repos.devices.get('b-1'))?.currentModel, 'f'.repeat(64));
  t.equal((await again.repos.devices.get('a-1'))?.firstSeen, 1000);
});

t.test('opening a directory without a store, when asked not to create one, says what to do', async (t) => {
  try {
    openSqliteStore({ dataDir: t.testdir(), create: false });
    t.fail('should throw');
  } catch (err: unknown) {
    t.ok(isEdgefleetError(err, 'EF_ERR_STORE_OPEN'));
    t.match(asError(err).message, /edgefleet server/);
  }
});

t.test('a row that does not match its schema is reported with its table, column and key', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  t.teardown(() => store.close());
  await store.repos.devices.upsertHello(hello('a-1'), 1000);
  const db = new Database(join(dir, STORE_FILE));
  db.prepare('UPDATE devices SET capabilities = \'{"cores": "many"}\' WHERE id = \'a-1\'').run();
  db.prepare("UPDATE device_classes SET budgets = 'not json' WHERE name = 'rpi4'").run();
  db.close();
  await t.rejects(store.repos.devices.get('a-1'), {
    code: 'EF_ERR_STORE_DECODE',
    message: /devices\.capabilities of "a-1" does not match its schema/,
  });
  await t.rejects(store.repos.classes.get('rpi4'), {
    code: 'EF_ERR_STORE_DECODE',
    message: /device_classes\.budgets of "rpi4" is not JSON/,
  });
});

t.test('a failing migration rolls back and reports its version', async (t) => {
  const dir = t.testdir();
  const broken = [
    ...MIGRATIONS,
    { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x INTEGER); SELECT nope FROM missing;' },
  ];
  t.throws(() => openSqliteStore({ dataDir: dir, migrations: broken }), { code: 'EF_ERR_STORE_MIGRATION' });
  const store = openSqliteStore({ dataDir: dir });
  t.equal(await store.schemaVersion(), MIGRATIONS.at(-1)?.version, 'the good migrations stayed');
  await store.close();
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
  await openSqliteStore({
    dataDir: dir,
    migrations: [...MIGRATIONS, { version: 50, name: 'future', sql: 'CREATE TABLE future (x INTEGER);' }],
  }).close();
  t.throws(() => openSqliteStore({ dataDir: dir }), { code: 'EF_ERR_STORE_MIGRATION' });
});

t.test(
  'migration 31 names stored breach events by their raising window and keeps the first of a pair stored twice',
  async (t) => {
    const dir = t.testdir();
    await openSqliteStore({ dataDir: dir, migrations: MIGRATIONS.filter((m) => m.version !== 31) }).close();
    const db = new Database(join(dir, STORE_FILE));
    const insert =
      db.prepare(`INSERT INTO telemetry_breaches (device_id, class, budget, state, measured, limit_value, unit,
      model_sha, throttled, sent_at, received_at, doc)
    VALUES (?, 'rpi4', ?, ?, 70, 50, 'ms', NULL, 0, 1, ?, ?)`);
    const doc = (windowSeqs: number[]) => JSON.stringify({ windowSeqs });
    insert.run('dev-a', 'latencyP95Ms', 'breached', 1, doc([0, 1, 2]));
    insert.run('dev-a', 'latencyP95Ms', 'breached', 2, doc([0, 1, 2])); // the same event, redelivered
    insert.run('dev-a', 'latencyP95Ms', 'recovered', 3, doc([3, 4, 5]));
    insert.run('dev-a', 'powerW', 'breached', 4, doc([0, 1, 2]));
    insert.run('dev-b', 'latencyP95Ms', 'breached', 5, doc([0, 1, 2]));
    db.close();
    await openSqliteStore({ dataDir: dir }).close();
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
  t.throws(() => openSqliteStore({ dataDir: join(dir, 'a-file', 'sub') }), { code: 'EF_ERR_STORE_OPEN' });
});
