/**
 * Device agents as real processes on this host, for the closed loop on real measurements:
 * each is `edgefleet-agent` (the same `runAgentCli` the bundle starts) with its own data
 * directory, a steady synthetic workload on whatever it serves, and telemetry windows of
 * measured onnxruntime latency. From sources (tests, `npm run bench:*`) a child runs the
 * TypeScript through tsx; from built code it runs the agent package's bin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface AgentProcessOptions {
  readonly deviceId: string;
  readonly deviceClass: string;
  readonly brokerUrl: string;
  readonly dataDir: string;
  /** Base64 Ed25519 keys manifests must be signed with. */
  readonly trustedKeys: readonly string[];
  readonly workloadRate: number;
  readonly workloadBatch: number;
  readonly windowS: number;
}

export interface AgentProcess {
  readonly deviceId: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last lines the process wrote (for error messages). */
  output(): string;
  /** SIGTERM (a clean offline status), SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<void>;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');

const running = new Set<ChildProcess>();
let hooksInstalled = false;

/**
 * Agent processes must not outlive the process that started them (a test runner's timeout, a
 * Ctrl-C): at exit they are killed, and on SIGINT/SIGTERM too, after which the signal is
 * raised again so the process ends as it would have.
 */
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const c of running) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      killAll();
      // The exit hooks (cgroups among them) run on process.exit; then end as the signal would.
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    if (process.listenerCount(signal) === 0) process.once(signal, onSignal);
  }
}

function command(args: readonly string[]): string[] {
  if (FROM_SOURCE) {
    const code =
      `import { runAgentCli } from '@edgefleet/agent'; runAgentCli(${JSON.stringify(args)}, ` +
      `process.env).then((c) => { process.exitCode = c; });`;
    return ['--import=tsx', '--conditions=edgefleet-source', '--input-type=module', '-e', code];
  }
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('@edgefleet/agent/package.json')),
    'bin/edgefleet-agent.js',
  );
  return [bin, ...args];
}

/** Starts one agent process; it connects, then serves what the server deploys to it. */
export function startAgentProcess(o: AgentProcessOptions): AgentProcess {
  const args = [
    '--device-id',
    o.deviceId,
    '--class',
    o.deviceClass,
    '--broker',
    o.brokerUrl,
    '--data-dir',
    o.dataDir,
    '--serve-port',
    '-1',
    '--log-level',
    'warn',
  ];
  const env = {
    ...process.env,
    EDGEFLEET_AGENT_TRUSTED_KEYS: o.trustedKeys.join(','),
    EDGEFLEET_AGENT_WORKLOAD_RATE: String(o.workloadRate),
    EDGEFLEET_AGENT_WORKLOAD_BATCH: String(o.workloadBatch),
    EDGEFLEET_AGENT_TELEMETRY_WINDOW_S: String(o.windowS),
  };
  const child = spawn(process.execPath, command(args), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  installHooks();
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  if (child.pid === undefined) throw new Error(`could not start the agent process for ${o.deviceId}`);
  return {
    deviceId: o.deviceId,
    pid: child.pid,
    child,
    output: () => tail,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
