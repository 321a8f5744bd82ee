/**
 * npm run bench:agent — the device's serving path, side by side on one model (mnist-cnn,
 * batch 1): bare onnxruntime-node in this process, the agent's inline model and its inference
 * worker in this process, and a real agent process (the built `edgefleet-agent`, connected to
 * a real server, serving the model inline) through its local API: JSON and binary HTTP on TCP
 * and on a Unix socket, and the framed binary protocol on the socket; the two binary paths
 * also on a second agent that keeps the model in a worker (`-w`). Calls are interleaved round
 * by round, so every path sees the same machine load; the table gives p50/p95 and the p50
 * added over bare onnxruntime. Memory and CPU of the agent process: RSS idle (no model),
 * serving before traffic (first boot, and after a restart when the proven model loads inline
 * at once), after the measured requests, and idle CPU; plus, for reference, RSS of a bare
 * `node` holding the same onnxruntime session. "Idle" is an agent enrolled and connected to
 * the server with no model; each memory reading is broken down by mapping (/proc/<pid>/smaps:
 * node binary, onnxruntime's library, glibc heap, anonymous) and by V8's own view (a probe
 * preloaded with --import, bench/agent-heap-probe.mjs).
 *
 * A labelled extra phase repeats bare onnxruntime, the framed socket and the echo with the
 * bench, the agent and the echo pinned to CPU 0 (`taskset`; rows marked `[pinned cpu0]`).
 *
 * Needs the built agent (`npm run build`). Usage:
 *   npm run bench:agent [-- --rounds 50 --per-round 200 --idle-s 20 --pinned-rounds 20 --paths ort,inline,...]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AGENT_NODE_FLAGS } from '@edgefleet/agent';
import { createServer, loadServerConfig } from '@edgefleet/server';
import {
  binaryHttpClient,
  encodeInferFrame,
  frameClient,
  jsonClient,
  startFrameEcho,
  type BenchInput,
  type PathClient,
} from './agent-clients.js';
import type { SmapsBreakdown, HeapProbe } from './agent-memory.js';
import { idleCpuPct, startAgent, startedAgents, type RunningAgent } from './agent-process.js';
import {
  bareOrtPath,
  inProcessInlinePath,
  inProcessWorkerPath,
  measureBareRss,
  procCpuSeconds,
  procRssMb,
  childRssMb,
  seedAgentDataDir,
  summarize,
} from './agent-support.js';
import { directOrtPath, interleave, pinnedSamples } from './agent-rounds.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? def) : def;
};
if (process.argv.includes('--help')) {
  process.stdout.write(
    'npm run bench:agent [-- --rounds 50 --per-round 200 --idle-s 20 --pinned-rounds 20 --paths ort,inline,...]\n' +
      'The agent serving path side by side (latency table, RSS idle/serving/after requests with breakdown, ' +
      'idle CPU);\n' +
      'writes bench/results/agent-<time>.json. Needs `npm run build` first.\n',
  );
  process.exit(0);
}
const ROUNDS = Number(arg('rounds', '50'));
const PER_ROUND = Number(arg('per-round', '200'));
const IDLE_S = Number(arg('idle-s', '20'));
/** Rounds of the labelled extra phase with the agent and the bench pinned to CPU 0 (0: skip it). */
const PINNED_ROUNDS = Number(arg('pinned-rounds', '20'));
const ALL_PATHS = [
  'ort',
  // onnxruntime's native session called synchronously, as the agent calls it (no setImmediate, no promise layers).
  'ort-direct',
  'inline',
  'worker',
  'http-json',
  'socket-json',
  'http-binary',
  'socket-binary',
  'socket-frame',
  // The same two binary paths on a second agent that keeps its model in a worker (--inline-max-ms 0).
  'http-binary-w',
  'socket-frame-w',
  // No agent: a bare node process echoing a fixed response frame (the floor of any local API).
  'socket-echo',
];
const PATHS = arg('paths', ALL_PATHS.join(',')).split(',');
const MODEL = join('models', 'zoo', 'mnist-cnn.onnx');
const log = pino({ level: 'silent' });

if (!existsSync(join('agent', 'dist', 'cli.js'))) {
  process.stderr.write('bench:agent runs the built agent; run `npm run build` first\n');
  process.exit(2);
}

/** A deterministic image-like input in [0, 1). */
function benchInput(): BenchInput {
  let a = 7;
  const data = Float32Array.from({ length: 784 }, () => {
    a = (a * 1103515245 + 12345) >>> 0;
    return (a >>> 8) / 16777216;
  });
  return { name: 'input', dims: [1, 1, 28, 28], data };
}

interface IdleAndLoaded {
  readonly idleMb: number;
  readonly idleCpu: number;
  readonly loadedMb: number;
  readonly loadedCpu: number;
  /** Inline agents: RSS after a restart, when the proven model loads on the agent thread with no worker at all. */
  readonly restartedMb: number | null;
  /** Where the memory goes (smaps by mapping, V8's view), per stage. */
  readonly breakdown: Record<string, { smaps: SmapsBreakdown; probe: HeapProbe | null }>;
  /** The agent still serving the model (the caller stops it). */
  readonly agent: RunningAgent;
}

/**
 * RSS and idle CPU of an agent that is enrolled and connected but has no model ("idle"),
 * then of one serving mnist-cnn before any traffic, with the breakdown of each.
 */
async function idleAndLoaded(
  brokerUrl: string,
  work: string,
  model: Uint8Array,
  input: BenchInput,
  nodeFlags: readonly string[],
  tag: string,
  inline: boolean,
): Promise<IdleAndLoaded> {
  const extraArgs = inline ? [] : ['--inline-max-ms', '0'];
  const breakdown: IdleAndLoaded['breakdown'] = {};
  const note = async (agent: RunningAgent, stage: string) => {
    const { smaps, probe, text } = await agent.memory(`${tag} ${stage}`);
    breakdown[stage] = { smaps, probe };
    process.stderr.write(`${text}\n`);
    return Math.round(smaps.rssKb / 1024);
  };
  const idle = await startAgent({
    brokerUrl,
    dataDir: join(work, `idle-${tag}`),
    socketPath: join(work, `idle-${tag}.sock`),
    nodeFlags,
    deviceId: `bench-idle-${tag}`,
    extraArgs,
  });
  await new Promise((r) => setTimeout(r, 3000));
  const idleMb = await note(idle, 'idle (connected, no model)');
  const idleCpu = await idleCpuPct(idle.pid, IDLE_S);
  await idle.stop();
  const dir = join(work, `serving-${tag}`);
  await seedAgentDataDir(dir, model, input);
  const serve = () =>
    startAgent({
      brokerUrl,
      dataDir: dir,
      socketPath: join(work, `serving-${tag}.sock`),
      nodeFlags,
      deviceId: `bench-serving-${tag}`,
      extraArgs,
      waitForInline: inline,
    });
  // First boot: the model loads in a worker and (inline) moves onto the agent thread once it has proven itself.
  let agent = await serve();
  await new Promise((r) => setTimeout(r, 3000));
  const loadedMb = await note(agent, 'serving, first boot');
  let restartedMb: number | null = null;
  if (inline) {
    // Every later boot: the proven model loads straight onto the agent thread.
    await agent.stop();
    agent = await serve();
    await new Promise((r) => setTimeout(r, 3000));
    restartedMb = await note(agent, 'serving, restarted');
  }
  const loadedCpu = await idleCpuPct(agent.pid, IDLE_S);
  const flags = nodeFlags.length > 0 ? nodeFlags.join(' ') : 'no node flags';
  process.stderr.write(
    `agent ${inline ? 'inline' : 'worker'} (${flags}): idle ${idleMb} MB ${idleCpu.toFixed(2)}% CPU · serving ` +
      `${loadedMb} MB` +
      `${restartedMb === null ? '' : `, after a restart ${restartedMb} MB`} ${loadedCpu.toFixed(2)}% CPU\n`,
  );
  return { idleMb, idleCpu, loadedMb, loadedCpu, restartedMb, breakdown, agent };
}

async function agentClients(
  agent: RunningAgent,
  workerAgent: RunningAgent,
  input: BenchInput,
): Promise<Map<string, PathClient>> {
  const clients = new Map<string, PathClient>();
  const tcp = { port: agent.port };
  const unix = { socketPath: agent.socketPath };
  if (PATHS.includes('http-json')) clients.set('http-json', jsonClient(tcp, input));
  if (PATHS.includes('socket-json')) clients.set('socket-json', jsonClient(unix, input));
  if (PATHS.includes('http-binary')) clients.set('http-binary', binaryHttpClient(tcp, input));
  if (PATHS.includes('socket-binary')) clients.set('socket-binary', binaryHttpClient(unix, input));
  if (PATHS.includes('socket-frame')) clients.set('socket-frame', await frameClient(agent.socketPath, input));
  if (PATHS.includes('http-binary-w'))
    clients.set('http-binary-w', binaryHttpClient({ port: workerAgent.port }, input));
  if (PATHS.includes('socket-frame-w')) clients.set('socket-frame-w', await frameClient(workerAgent.socketPath, input));
  return clients;
}

/**
 * CPU the inline agent and the bare echo spend per framed request (user + kernel, every
 * thread, µs), over 5,000 requests each: unlike latency this does not wait on the scheduler,
 * so it tells the agent's own work (decode, inference, encode, the write that wakes the
 * client) from the two processes' wake-ups on a busy host.
 */
async function framedCpuPerRequest(
  paths: ReadonlyMap<string, PathClient>,
  agentPid: number,
  echoPid: number | null,
): Promise<{ agent: number | null; echo: number | null }> {
  const measure = async (client: PathClient | undefined, pid: number | null) => {
    if (!client || pid === null) return null;
    const n = 5000;
    const before = procCpuSeconds(pid);
    for (let i = 0; i < n; i += 1) await client.call();
    return Number(((1e6 * (procCpuSeconds(pid) - before)) / n).toFixed(1));
  };
  const agent = await measure(paths.get('socket-frame'), agentPid);
  const echo = await measure(paths.get('socket-echo'), echoPid);
  process.stderr.write(`CPU per framed request: agent ${agent ?? '-'} µs, bare echo ${echo ?? '-'} µs\n`);
  return { agent, echo };
}

function sameOutput(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ef-bench-agent-'));
  const modelBytes = readFileSync(MODEL);
  const input = benchInput();
  const config = loadServerConfig({
    flags: {
      dataDir: join(work, 'server'),
      port: 0,
      host: '127.0.0.1',
      apiPort: -1,
      'auth.enabled': false,
      'log.level': 'silent',
      'control.enabled': false,
    },
  });
  const server = createServer(config, { logger: log });
  const { brokerUrl } = await server.start();
  const results: Record<string, unknown> = {};
  try {
    const bare = await measureBareRss(MODEL, input, 10_000);
    process.stderr.write(`bare node + onnxruntime + session: ${bare.loadedMb} MB, ${bare.afterMb} MB after 10k runs\n`);

    // The launcher's node flags (AGENT_NODE_FLAGS), then none, for comparison; traffic goes to the first.
    const withFlags = await idleAndLoaded(brokerUrl, work, modelBytes, input, AGENT_NODE_FLAGS, 'flags', true);
    const inWorker = await idleAndLoaded(brokerUrl, work, modelBytes, input, AGENT_NODE_FLAGS, 'worker', false);
    const plain = await idleAndLoaded(brokerUrl, work, modelBytes, input, [], 'plain', true);
    await plain.agent.stop();
    const agent = withFlags.agent;
    const pid = agent.pid;

    const paths = new Map<string, PathClient>();
    if (PATHS.includes('ort')) paths.set('ort', await bareOrtPath(modelBytes, input));
    if (PATHS.includes('ort-direct')) paths.set('ort-direct', await directOrtPath(modelBytes, input));
    if (PATHS.includes('inline')) paths.set('inline', await inProcessInlinePath(modelBytes, input));
    if (PATHS.includes('worker')) paths.set('worker', await inProcessWorkerPath(modelBytes, input));
    let agentRequests = 0;
    for (const [name, client] of await agentClients(agent, inWorker.agent, input))
      paths.set(name, {
        call: () => {
          if (!name.endsWith('-w')) agentRequests += 1;
          return client.call();
        },
        close: () => client.close(),
      });

    const reference = paths.get('ort') ? await (paths.get('ort') as PathClient).call() : null;
    let echo: { readonly pid: number; stop(): void } | null = null;
    if (PATHS.includes('socket-echo') && reference) {
      const response = encodeInferFrame({
        kind: 'response',
        id: 0,
        name: 'output',
        tensor: { dims: [1, 10], data: reference },
      });
      const started = await startFrameEcho(join(work, 'echo.sock'), response);
      echo = started;
      paths.set('socket-echo', await frameClient(started.socketPath, input));
    }
    for (const [name, client] of paths) {
      for (let i = 0; i < 300; i += 1) await client.call();
      const out = await client.call();
      if (reference && !sameOutput(out, reference))
        throw new Error(`${name} answers differently from bare onnxruntime`);
    }
    const samples = await interleave(paths, ROUNDS, PER_ROUND, (done) => {
      if (done % 10 === 0) process.stderr.write(`round ${done}/${ROUNDS}\n`);
    });
    const pinnedPaths = new Map([...paths].filter(([name]) => ['ort', 'socket-frame', 'socket-echo'].includes(name)));
    const pinned =
      PINNED_ROUNDS > 0 && pinnedPaths.size > 0
        ? await pinnedSamples(pinnedPaths, [pid, ...(echo ? [echo.pid] : [])], PINNED_ROUNDS, PER_ROUND, cpus().length)
        : null;
    if (PINNED_ROUNDS > 0 && pinned === null)
      process.stderr.write('pinned phase skipped: taskset missing or refused\n');
    const frameCpu = await framedCpuPerRequest(paths, pid, echo?.pid ?? null);
    const after = await agent.memory('inline agent after the measured requests');
    process.stderr.write(`${after.text}\n`);
    const afterRssMb = procRssMb(pid);
    const watchdogRssMb = childRssMb(pid);
    const workerAfterRssMb = procRssMb(inWorker.agent.pid);
    for (const client of paths.values()) client.close();
    echo?.stop();
    await agent.stop();
    await inWorker.agent.stop();

    const table = [...latencyRows(samples, ''), ...(pinned ? latencyRows(pinned, ' [pinned cpu0]') : [])];
    Object.assign(results, {
      model: MODEL,
      rounds: ROUNDS,
      pinnedRounds: pinned ? PINNED_ROUNDS : 0,
      perRound: PER_ROUND,
      latency: table,
      nodeFlags: AGENT_NODE_FLAGS,
      memory: {
        bareNodeOrtLoadedMb: bare.loadedMb,
        bareNodeOrtAfterMb: bare.afterMb,
        agentIdleMb: withFlags.idleMb,
        agentLoadedMb: withFlags.loadedMb,
        agentRestartedMb: withFlags.restartedMb,
        agentAfterRequestsMb: afterRssMb,
        agentRequests,
        agentChildProcessesMb: watchdogRssMb,
        workerAgentLoadedMb: inWorker.loadedMb,
        workerAgentAfterRequestsMb: workerAfterRssMb,
        withoutFlagsIdleMb: plain.idleMb,
        withoutFlagsLoadedMb: plain.loadedMb,
        withoutFlagsRestartedMb: plain.restartedMb,
      },
      memoryBreakdown: {
        inline: { ...withFlags.breakdown, 'after the requests': { smaps: after.smaps, probe: after.probe } },
        worker: inWorker.breakdown,
        withoutFlags: plain.breakdown,
      },
      // CPU (all threads, user + kernel) the serving process spends per framed request, µs.
      framedCpuPerRequestUs: frameCpu,
      idleCpuPct: {
        noModel: Number(withFlags.idleCpu.toFixed(3)),
        serving: Number(withFlags.loadedCpu.toFixed(3)),
        servingInWorker: Number(inWorker.loadedCpu.toFixed(3)),
      },
      loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    });
    printTable(table, results.memory as Record<string, number>, withFlags.idleCpu, withFlags.loadedCpu);
    process.stdout.write(
      `CPU per framed request (user + kernel, all threads): agent ${frameCpu.agent ?? '-'} µs, ` +
        `bare echo ${frameCpu.echo ?? '-'} µs\n`,
    );
  } finally {
    for (const child of startedAgents) child.kill('SIGKILL');
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
  mkdirSync(join('bench', 'results'), { recursive: true });
  const out = join('bench', 'results', `agent-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const host = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };
  writeFileSync(out, `${JSON.stringify({ ...results, host }, null, 2)}\n`);
  process.stdout.write(`\nwritten ${out}\n`);
}

/** One table row per path: p50/p95, and p50 added over bare onnxruntime measured in the same phase. */
function latencyRows(samples: ReadonlyMap<string, number[]>, label: string) {
  const ort = samples.get('ort');
  const ortP50 = ort ? summarize(ort).p50 : null;
  return [...samples].map(([name, values]) => {
    const s = summarize(values);
    return {
      path: `${name}${label}`,
      p50Ms: Number(s.p50.toFixed(4)),
      p95Ms: Number(s.p95.toFixed(4)),
      addedP50Ms: ortP50 === null ? null : Number((s.p50 - ortP50).toFixed(4)),
      ratioToOrt: ortP50 === null ? null : Number((s.p50 / ortP50).toFixed(2)),
    };
  });
}

function printTable(
  rows: ReadonlyArray<Record<string, unknown>>,
  memory: Readonly<Record<string, number>>,
  idleCpu: number,
  loadedCpu: number,
): void {
  const header = ['path', 'p50 ms', 'p95 ms', '+p50 vs ort', '× ort'];
  const lines = rows.map((r) => [
    String(r.path),
    String(r.p50Ms),
    String(r.p95Ms),
    r.addedP50Ms === null ? '-' : String(r.addedP50Ms),
    r.ratioToOrt === null ? '-' : String(r.ratioToOrt),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  process.stdout.write(`\n${fmt(header)}\n${lines.map(fmt).join('\n')}\n\n`);
  process.stdout.write(
    [
      `RSS bare node+ort+session: ${memory.bareNodeOrtLoadedMb} MB (after 10k runs ${memory.bareNodeOrtAfterMb} MB)`,
      `RSS agent (${AGENT_NODE_FLAGS.join(' ')}): idle ${memory.agentIdleMb} MB · serving inline ` +
        `${memory.agentLoadedMb} MB (first boot), ${memory.agentRestartedMb} MB (restarted) · after ` +
        `${memory.agentRequests} requests ${memory.agentAfterRequestsMb} MB` +
        ` (+ ${memory.agentChildProcessesMb} MB in its child processes: the inline watchdog)`,
      `RSS agent with the model in a worker (--inline-max-ms 0): serving ${memory.workerAgentLoadedMb} MB · after ` +
        `the requests ${memory.workerAgentAfterRequestsMb} MB`,
      `RSS agent without node flags: idle ${memory.withoutFlagsIdleMb} MB · serving inline ` +
        `${memory.withoutFlagsLoadedMb} MB (first boot), ${memory.withoutFlagsRestartedMb} MB (restarted)`,
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      `idle CPU agent: no model ${idleCpu.toFixed(2)}% · serving ${loadedCpu.toFixed(2)}% of one core`,
    ].join('\n'),
  );
  process.stdout.write('\n');
}

await main();
