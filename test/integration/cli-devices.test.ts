import t from 'tap';
import type { Hello } from '@edgefleet/shared';
import { openSqliteStore } from '@edgefleet/server';
import { main } from '@edgefleet/cli';
import { formatAge } from '@edgefleet/cli/commands/devices';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = process.stdout.write.bind(process.stdout);
  const error = console.error;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  console.error = (...args: unknown[]) => {
    err += `${args.join(' ')}\n`;
  };
  try {
    return { code: await main(['node', 'edgefleet', ...argv]), out, err };
  } finally {
    process.stdout.write = write;
    console.error = error;
  }
}

const hello = (deviceId: string, deviceClass: string): Hello => ({
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
  sentAt: 1,
});

t.test('edgefleet devices prints the registry as a table and as JSON', async (t) => {
  const dir = t.testdir();
  const store = openSqliteStore({ dataDir: dir });
  await store.repos.devices.upsertHello(hello('pi-1', 'rpi4'), Date.now() - 5_000);
  await store.repos.devices.upsertHello(hello('jet-1', 'jetson'), Date.now());
  await store.repos.devices.touch('jet-1', Date.now(), 'ab'.repeat(32));
  await store.repos.devices.setState('pi-1', 'offline', 'lost', 2, null);
  await store.close();

  const table = await run(['devices', '--data-dir', dir]);
  t.equal(table.code, 0);
  t.match(table.out, /ID\s+CLASS\s+STATE\s+LAST SEEN\s+MODEL/);
  t.match(table.out, /jet-1\s+jetson\s+online\s+\d+ s ago\s+abababababab/);
  t.match(table.out, /pi-1\s+rpi4\s+offline\s+\d+ s ago\s+-/);
  t.match(table.out, /2 devices, 1 online/);

  const json = await run(['devices', '--data-dir', dir, '--json']);
  const parsed = JSON.parse(json.out) as Array<{ id: string; state: string; capabilities: { cores: number } }>;
  t.same(
    parsed.map((d) => [d.id, d.state, d.capabilities.cores]),
    [
      ['jet-1', 'online', 4],
      ['pi-1', 'offline', 4],
    ],
  );
});

t.test('edgefleet devices on an empty or missing store says what to do', async (t) => {
  const missing = await run(['devices', '--data-dir', t.testdir()]);
  t.equal(missing.code, 1);
  t.match(missing.err, /EF_ERR_STORE_OPEN.*edgefleet server/);
  const dir = t.testdir();
  await openSqliteStore({ dataDir: dir }).close();
  const empty = await run(['devices', '--data-dir', dir]);
  t.equal(empty.code, 0);
  t.match(empty.out, /no devices registered/);
});

t.test('ages read naturally', async (t) => {
  t.equal(formatAge(0, 5_000), '5 s ago');
  t.equal(formatAge(0, 600_000), '10 min ago');
  t.equal(formatAge(0, 3 * 3_600_000), '3 h ago');
  t.equal(formatAge(0, 3 * 86_400_000), '1970-01-01 00:00');
});
