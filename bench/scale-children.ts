/**
 * The child processes of `npm run bench:scale`: servers and farms forked with tsx (answers
 * over IPC, matched by request id), and mosquitto started on a free loopback port.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/postgres.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const EXEC_ARGV = ['--import=tsx', '--conditions=edgefleet-source'];
/** Scheduling priority of farm processes (nice; 0 is the default, 19 the lowest). */
const FARM_NICE = 10;
/** Longest the bench waits for a child's answer unless the request says otherwise. */
const ASK_TIMEOUT_MS = 180_000;

export interface Child {
  readonly pid: number;
  /** What the child said first (a server: its broker URL). */
  readonly started: unknown;
  /** Sends `request`; rejects when the child has not answered within `timeoutMs` (default 180 s). */
  ask(request: object, timeoutMs?: number): Promise<unknown>;
  /** Asks it to stop, and SIGKILLs it when it has not exited within 30 s. */
  stop(): Promise<void>;
}

/**
 * Forks `file` (next to this one) with `spec` as its JSON argument. A server answers requests
 * `{ id, result | error }`; a farm sends progress, given to `onMessage`.
 */
export async function forkChild(file: string, spec: object, onMessage?: (m: unknown) => void): Promise<Child> {
  const child: ChildProcess = fork(join(HERE, file), [JSON.stringify(spec)], {
    execArgv: EXEC_ARGV,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Farms stand in for devices, which have CPUs of their own: on a shared box they yield to the
  // servers and brokers being measured (nice 10) instead of starving them.
  if (file === 'scale-farm.ts' && child.pid !== undefined) setPriority(child.pid, FARM_NICE);
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const started = await new Promise<unknown>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${file} exited ${code} before it started`)));
    child.on('message', (m: { id?: number; kind?: string; result?: unknown; error?: string }) => {
      if (m.id === 0 || m.kind === 'started') resolve(m.result ?? m);
      else if (m.id !== undefined) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(`${file}: ${m.error}`));
        else w?.resolve(m.result);
      } else onMessage?.(m);
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A child that dies (a crashed server) fails what was asked of it instead of leaving the bench waiting.
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`${file} exited (${signal ?? code}) while asked`));
    waiting.clear();
  });
  return {
    pid: child.pid ?? 0,
    started,
    ask: (request, timeoutMs = ASK_TIMEOUT_MS) =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null)
          return reject(new Error(`${file} has exited (${child.signalCode ?? child.exitCode})`));
        const id = nextId++;
        // A server too busy to answer in time is a result too (the caller decides what it means).
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${file} did not answer ${(request as { type?: string }).type} in ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, request, type: (request as { type?: string }).type });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ id: nextId++, request: { type: 'stop' }, type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** mosquitto 2 on a free loopback port, anonymous, no persistence: delivery is what is measured. */
export async function startMosquitto(dir: string): Promise<{ url: string; pid: number; stop: () => void }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\n`);
  const broker = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-8192));
  broker.stdout.on('data', keep);
  broker.stderr.on('data', keep);
  for (let i = 0; i < 100 && !/running/.test(log) && broker.exitCode === null; i += 1)
    await new Promise((r) => setTimeout(r, 100));
  if (!/running/.test(log)) throw new Error(`mosquitto did not start (apt-get install -y mosquitto): ${log}`);
  return { url: `mqtt://127.0.0.1:${port}`, pid: broker.pid ?? 0, stop: () => broker.kill('SIGTERM') };
}
