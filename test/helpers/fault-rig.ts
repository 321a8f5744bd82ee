/**
 * Real processes for the fault suite: `edgefleet server` (the CLI, auth off, fixed ports so a
 * restarted server is where its agents left it) and the fault agent (test/helpers/fault-agent.ts),
 * each killable with SIGKILL and restartable on the same data directory.
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
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
  const child = spawn(
    process.execPath,
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
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Auth is covered elsewhere; the control loop would start rollouts of its own.
      env: tsxChildEnv({ EDGEFLEET_AUTH: 'false', EDGEFLEET_CONTROL: 'false' }),
    },
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
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=edgefleet-source', join(REPO_ROOT, 'test/helpers/fault-agent.ts'), configFile],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: tsxChildEnv() },
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
