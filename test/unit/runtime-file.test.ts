/**
 * One holder per data directory: the runtime file is claimed exclusively, says how to reach
 * the holder's API, is taken over when its process is gone, and names the holder when busy.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { claimDataDir, readRuntimeInfo, RUNTIME_FILE } from '@edgefleet/server/runtime-file';

t.test('a claim is exclusive, published atomically, private, and released', async (t) => {
  const dir = join(t.testdir(), 'new-dir');
  const claim = claimDataDir(dir, { kind: 'server', command: 'edgefleet server', now: 1000 });
  t.match(readRuntimeInfo(dir), { pid: process.pid, kind: 'server', api: { state: 'starting' } });
  t.equal(statSync(join(dir, RUNTIME_FILE)).mode & 0o777, 0o600, 'only the owner reads the token');
  t.throws(() => claimDataDir(dir, { kind: 'cli', command: 'edgefleet plan', now: 2000 }), {
    code: 'EF_ERR_STORE_BUSY',
    message: /in use by edgefleet server \(pid \d+/,
  });
  claim.publish({ state: 'listening', url: 'http://127.0.0.1:1234', token: 'x'.repeat(40), certFile: null });
  t.match(readRuntimeInfo(dir), { api: { state: 'listening', url: 'http://127.0.0.1:1234' } });
  claim.release();
  t.notOk(existsSync(join(dir, RUNTIME_FILE)));
  claim.release();
  claimDataDir(dir, { kind: 'cli', command: 'edgefleet plan', now: 3000 }).release();
});

t.test('a file left by a process that is gone is taken over; a damaged one too', async (t) => {
  const dir = t.testdir();
  // A pid that surely ended: a child that already exited.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  const stale = { v: 1, pid: gone, kind: 'server', command: 'edgefleet server', startedAt: 1, api: { state: 'off' } };
  writeFileSync(join(dir, RUNTIME_FILE), JSON.stringify(stale));
  t.equal(readRuntimeInfo(dir), null, 'a dead holder is no holder');
  const claim = claimDataDir(dir, { kind: 'cli', command: 'edgefleet devices', now: 5 });
  t.match(JSON.parse(readFileSync(join(dir, RUNTIME_FILE), 'utf8')), { pid: process.pid, kind: 'cli' });
  claim.release();
  writeFileSync(join(dir, RUNTIME_FILE), '{"half');
  t.equal(readRuntimeInfo(dir), null);
  claimDataDir(dir, { kind: 'cli', command: 'edgefleet devices', now: 6 }).release();
});

t.test('a directory that cannot be made is EF_ERR_STORE_OPEN', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' });
  t.throws(() => claimDataDir(join(dir, 'a-file', 'sub'), { kind: 'server', command: 's', now: 1 }), {
    code: 'EF_ERR_STORE_OPEN',
  });
});
