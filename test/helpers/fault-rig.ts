/**
 * Real processes for the fault suite: `edgefleet server` (the CLI, auth off, fixed ports so a
 * restarted server is where its agents left it) and the fault agent (test/helpers/fault-agent.ts),
 * each killable with SIGKILL and restartable on the same data directory.
 *
 * Each process starts in a process group of its own, and a kill -9 goes to the whole group
 * (grandchildren too: the inline watchdog, anything a server spawns). When the test process
 * itself is ended before its teardown runs (tap's per-file timeout sends SIGALRM, then SIGKILL;
 * a stop SIGTERM, Ctrl-C SIGINT), every group still running is killed first, so no server or
 * agent outlives the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tsxChildEnv } from './spawn-ts.js';

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when the output (from now on, or already) matches; rejects with the output after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
  /** kill -9, and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Process groups (leaders' pids) started here and not yet seen to exit. */
const running = new Set<number>();

/** SIGKILL to the group led by `pid`; a group already gone is fine. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

function killAllGroups(): void {
  for (const pid of running) killGroup(pid);
  running.clear();
}

/** Signals that end a test process early: tap's per-file timeout (SIGALRM), stops, Ctrl-C. */
const ENDING_SIGNALS = ['SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function killGroupsOnSignal(signal: NodeJS.Signals): void {
  killAllGroups();
  // Step aside and deliver the signal again: the process's other listeners (tap's own) or the
  // default action then handle it as if this listener had never been there.
  process.off(signal, killGroupsOnSignal);
  process.kill(process.pid, signal);
}

/** Kills every group on exit and before the test process dies of a signal (armed again after one fired). */
function armKillOnExit(): void {
  if (!process.listeners('exit').includes(killAllGroups)) process.on('exit', killAllGroups);
  for (const signal of ENDING_SIGNALS)
    if (!process.listeners(signal).includes(killGroupsOnSignal)) process.on(signal, killGroupsOnSignal);
}

/** Spawns `node args` as the leader of a new process group, tracked for the kills above. */
function spawnGroup(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  armKillOnExit();
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env,
  });
  const pid = child.pid;
  if (pid !== undefined) {
    running.add(pid);
    // The leader's exit: grandchildren of a killed group are gone with it; a clean exit leaves none behind.
    child.once('exit', () => running.delete(pid));
  }
  return child;
}

function track(child: ChildProcess, what: string): Proc {
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const l of [...listeners]) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor: (re, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!re.test(out)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${what}: timed out waiting for ${re}; output:\n${out.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    async kill9() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) killGroup(child.pid);
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** `edgefleet server` on `dataDir` with its broker on `port` and its admin API on `apiPort`; auth off. */
export async function startServerProcess(dataDir: string, port: number, apiPort: number): Promise<Proc> {
  const entry = "import { main } from '@edgefleet/cli'; main(process.argv).then((c) => { process.exitCode = c; });";
  const args = ['--port', String(port), '--api-port', String(apiPort), '--data-dir', dataDir, '--log-level', 'info'];
  const child = spawnGroup(
    [
      '--import=tsx',
      '--conditions=edgefleet-source',
      '--input-type=module',
      '-e',
      entry,
      'edgefleet',
      'server',
      ...args,
    ],
    // Auth is covered elsewhere; the control loop would start rollouts of its own.
    tsxChildEnv({ EDGEFLEET_AUTH: 'false', EDGEFLEET_CONTROL: 'false' }),
  );
  const proc = track(child, 'server');
  await proc.waitFor(/edgefleet server started/, 60_000);
  return proc;
}

export interface FaultAgentSpec {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly brokerUrl: string;
  readonly dataDir: string;
  /** The server's `keys/trusted-keys.txt`. */
  readonly trustedKeysFile: string;
  /** `{ "holdAt": step | null }`, read before each swap step. */
  readonly controlFile: string;
}

/** The fault agent (the real device with holdable swap steps); resolves once it is connecting. */
export async function startFaultAgent(spec: FaultAgentSpec, configDir: string): Promise<Proc> {
  const configFile = join(configDir, `${spec.deviceId}.fault-agent.json`);
  writeFileSync(configFile, JSON.stringify(spec));
  const child = spawnGroup(
    ['--import=tsx', '--conditions=edgefleet-source', join(REPO_ROOT, 'test/helpers/fault-agent.ts'), configFile],
    tsxChildEnv(),
  );
  const proc = track(child, `agent ${spec.deviceId}`);
  await proc.waitFor(/FAULT-AGENT-READY/, 60_000);
  return proc;
}

/** Sets the step the fault agent holds at (null: none). */
export function holdAt(controlFile: string, step: string | null): void {
  writeFileSync(controlFile, JSON.stringify({ holdAt: step }));
}

/** JSON over the admin API (auth off). */
export async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
