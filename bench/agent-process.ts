/**
 * Real agent processes for `npm run bench:agent`: the built `edgefleet-agent` started with
 * given node flags against the bench's server, with the heap probe preloaded
 * (agent-heap-probe.mjs) so the bench can ask it where its memory goes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatBreakdown, readHeapProbe, smapsBreakdown, type HeapProbe, type SmapsBreakdown } from './agent-memory.js';
import { procCpuSeconds } from './agent-support.js';

const AGENT_BIN = join('agent', 'bin', 'edgefleet-agent.js');
const PROBE = pathToFileURL(join('bench', 'agent-heap-probe.mjs')).href;

export interface RunningAgent {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly socketPath: string;
  /** smaps by category and the probe's V8 figures, now. */
  memory(label: string): Promise<{ smaps: SmapsBreakdown; probe: HeapProbe | null; text: string }>;
  stop(): Promise<void>;
}

export interface AgentStart {
  readonly brokerUrl: string;
  readonly dataDir: string;
  readonly socketPath: string;
  readonly nodeFlags: readonly string[];
  readonly deviceId: string;
  readonly extraArgs?: readonly string[];
  /** Resolve only once the agent says it serves its model on its own thread. */
  readonly waitForInline?: boolean;
  /** Extra environment (e.g. MALLOC_ARENA_MAX to compare). */
  readonly env?: Readonly<Record<string, string>>;
  /** The agent's entry script (default: the built package's bin). */
  readonly bin?: string;
}

/** Every agent process the bench started, so a failed run leaves none behind. */
export const startedAgents = new Set<ChildProcess>();

/** Starts the built agent; resolves once it is online and its API listens. */
export async function startAgent(options: AgentStart): Promise<RunningAgent> {
  const probeFile = `${options.dataDir}.probe.json`;
  const child = spawn(
    process.execPath,
    [
      ...options.nodeFlags,
      `--import=${PROBE}`,
      options.bin ?? AGENT_BIN,
      ...['--device-id', options.deviceId, '--class', 'rpi4', '--broker', options.brokerUrl],
      ...['--data-dir', options.dataDir, '--serve-port', '0', '--serve-socket', options.socketPath],
      ...['--log-level', 'info'],
      ...(options.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.env, EF_HEAP_PROBE_FILE: probeFile } },
  );
  startedAgents.add(child);
  child.once('exit', () => startedAgents.delete(child));
  let port = 0;
  let online = false;
  let inline = false;
  child.stdout?.on('data', (part: Buffer) => {
    for (const line of part.toString('utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'local inference API listening' && entry.url?.startsWith('http://'))
        port = Number(new URL(entry.url).port);
      if (entry.msg === 'online') online = true;
      if (entry.msg === 'serving the model on the agent thread') inline = true;
    }
  });
  const deadline = Date.now() + 30_000;
  while (!(online && port > 0 && (inline || !options.waitForInline))) {
    if (child.exitCode !== null) throw new Error(`agent exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('agent did not come online within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid as number;
  return {
    child,
    pid,
    port,
    socketPath: options.socketPath,
    memory: async (label) => {
      const smaps = smapsBreakdown(pid);
      const probe = await readHeapProbe(pid, probeFile);
      return { smaps, probe, text: formatBreakdown(label, smaps, probe) };
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** CPU of a process over `seconds` while nothing is asked of it, in % of one core. */
export async function idleCpuPct(pid: number, seconds: number): Promise<number> {
  const before = procCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (100 * (procCpuSeconds(pid) - before)) / seconds;
}
