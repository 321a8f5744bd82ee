/**
 * npm run bench:agent — the device's serving path, side by side on one model (mnist-cnn,
 * batch 1): bare onnxruntime-node in this process, the agent's inference worker in this
 * process, and a real agent process (the built `edgefleet-agent`, connected to a real server)
 * through its local API: JSON and binary HTTP on TCP and on a Unix socket, and the framed
 * binary protocol on the socket. Calls are interleaved round by round, so every path sees the
 * same machine load; the table gives p50/p95 and the p50 added over bare onnxruntime.
 * Memory and CPU of the agent process: RSS idle (no model), loaded (serving, before traffic)
 * and after the measured requests, and idle CPU in both states; plus, for reference, RSS of
 * a bare `node` holding the same onnxruntime session.
 *
 * Needs the built agent (`npm run build`). Usage:
 *   npm run bench:agent [-- --rounds 50 --per-round 200 --idle-s 20 --paths ort,worker,http-json,...]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AGENT_NODE_FLAGS } from '@edgefleet/agent';
import { createServer, loadServerConfig } from '@edgefleet/server';
import { binaryHttpClient, frameClient, jsonClient, type BenchInput, type PathClient } from './agent-clients.js';
import {
  bareOrtPath,
  inProcessWorkerPath,
  measureBareRss,
  procCpuSeconds,
  procRssMb,
  seedAgentDataDir,
  summarize,
} from './agent-support.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? def) : def;
};
const ROUNDS = Number(arg('rounds', '50'));
const PER_ROUND = Number(arg('per-round', '200'));
const IDLE_S = Number(arg('idle-s', '20'));
const ALL_PATHS = ['ort', 'worker', 'http-json', 'socket-json', 'http-binary', 'socket-binary', 'socket-frame'];
const PATHS = arg('paths', ALL_PATHS.join(',')).split(',');
const MODEL = join('models', 'zoo', 'mnist-cnn.onnx');
const AGENT_BIN = join('agent', 'bin', 'edgefleet-agent.js');
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

interface RunningAgent {
  readonly child: ChildProcess;
  readonly port: number;
  readonly socketPath: string;
  stop(): Promise<void>;
}

/** Starts the built agent; resolves once it is online and (with a model) its API answers. */
async function startAgent(
  brokerUrl: string,
  dataDir: string,
  socketPath: string,
  nodeFlags: readonly string[],
  deviceId: string,
): Promise<RunningAgent> {
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      AGENT_BIN,
      ...['--device-id', deviceId, '--class', 'rpi4', '--broker', brokerUrl, '--data-dir', dataDir],
      ...['--serve-port', '0', '--serve-socket', socketPath, '--log-level', 'info'],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let port = 0;
  let online = false;
  child.stdout?.on('data', (part: Buffer) => {
    for (const line of part.toString('utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'local inference API listening' && entry.url?.startsWith('http://'))
        port = Number(new URL(entry.url).port);
      if (entry.msg === 'online') online = true;
    }
  });
  const deadline = Date.now() + 30_000;
  while (!(online && port > 0)) {
    if (child.exitCode !== null) throw new Error(`agent exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('agent did not come online within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    port,
    socketPath,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** CPU of a process over `seconds` while nothing is asked of it, in % of one core. */
async function idleCpuPct(pid: number, seconds: number): Promise<number> {
  const before = procCpuSeconds(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (100 * (procCpuSeconds(pid) - before)) / seconds;
}

interface IdleAndLoaded {
  readonly idleMb: number;
  readonly idleCpu: number;
  readonly loadedMb: number;
  readonly loadedCpu: number;
  /** The agent still serving the model (the caller stops it). */
  readonly agent: RunningAgent;
}

/** RSS and idle CPU of an agent without a model, then of one serving mnist-cnn before any traffic. */
async function idleAndLoaded(
  brokerUrl: string,
  work: string,
  model: Uint8Array,
  input: BenchInput,
  nodeFlags: readonly string[],
  tag: string,
): Promise<IdleAndLoaded> {
  const idle = await startAgent(
    brokerUrl,
    join(work, `idle-${tag}`),
    join(work, `idle-${tag}.sock`),
    nodeFlags,
    `bench-idle-${tag}`,
  );
  await new Promise((r) => setTimeout(r, 3000));
  const idleMb = procRssMb(idle.child.pid as number);
  const idleCpu = await idleCpuPct(idle.child.pid as number, IDLE_S);
  await idle.stop();
  const dir = join(work, `serving-${tag}`);
  await seedAgentDataDir(dir, model, input);
  const agent = await startAgent(brokerUrl, dir, join(work, `serving-${tag}.sock`), nodeFlags, `bench-serving-${tag}`);
  await new Promise((r) => setTimeout(r, 3000));
  const loadedMb = procRssMb(agent.child.pid as number);
  const loadedCpu = await idleCpuPct(agent.child.pid as number, IDLE_S);
  const flags = nodeFlags.length > 0 ? nodeFlags.join(' ') : 'no node flags';
  process.stderr.write(
    `agent (${flags}): idle ${idleMb} MB ${idleCpu.toFixed(2)}% CPU · serving ${loadedMb} MB ${loadedCpu.toFixed(2)}% CPU\n`,
  );
  return { idleMb, idleCpu, loadedMb, loadedCpu, agent };
}

async function agentClients(agent: RunningAgent, input: BenchInput): Promise<Map<string, PathClient>> {
  const clients = new Map<string, PathClient>();
  const tcp = { port: agent.port };
  const unix = { socketPath: agent.socketPath };
  if (PATHS.includes('http-json')) clients.set('http-json', jsonClient(tcp, input));
  if (PATHS.includes('socket-json')) clients.set('socket-json', jsonClient(unix, input));
  if (PATHS.includes('http-binary')) clients.set('http-binary', binaryHttpClient(tcp, input));
  if (PATHS.includes('socket-binary')) clients.set('socket-binary', binaryHttpClient(unix, input));
  if (PATHS.includes('socket-frame')) clients.set('socket-frame', await frameClient(agent.socketPath, input));
  return clients;
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
    const withFlags = await idleAndLoaded(brokerUrl, work, modelBytes, input, AGENT_NODE_FLAGS, 'flags');
    const plain = await idleAndLoaded(brokerUrl, work, modelBytes, input, [], 'plain');
    await plain.agent.stop();
    const agent = withFlags.agent;
    const pid = agent.child.pid as number;

    const paths = new Map<string, PathClient>();
    if (PATHS.includes('ort')) paths.set('ort', await bareOrtPath(modelBytes, input));
    if (PATHS.includes('worker')) paths.set('worker', await inProcessWorkerPath(modelBytes, input));
    let agentRequests = 0;
    for (const [name, client] of await agentClients(agent, input))
      paths.set(name, {
        call: () => {
          agentRequests += 1;
          return client.call();
        },
        close: () => client.close(),
      });

    const reference = paths.get('ort') ? await (paths.get('ort') as PathClient).call() : null;
    for (const [name, client] of paths) {
      for (let i = 0; i < 300; i += 1) await client.call();
      const out = await client.call();
      if (reference && !sameOutput(out, reference))
        throw new Error(`${name} answers differently from bare onnxruntime`);
    }
    const samples = new Map<string, number[]>([...paths.keys()].map((k) => [k, []]));
    const names = [...paths.keys()];
    for (let round = 0; round < ROUNDS; round += 1) {
      // Rotate the order every round so no path always runs right after another.
      const order = names.map((_, i) => names[(i + round) % names.length] as string);
      for (const name of order) {
        const client = paths.get(name) as PathClient;
        const into = samples.get(name) as number[];
        for (let i = 0; i < PER_ROUND; i += 1) {
          const t0 = performance.now();
          await client.call();
          into.push(performance.now() - t0);
        }
      }
      if ((round + 1) % 10 === 0) process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
    }
    const afterRssMb = procRssMb(pid);
    for (const client of paths.values()) client.close();
    await agent.stop();

    const ortP50 = samples.get('ort') ? summarize(samples.get('ort') as number[]).p50 : null;
    const table = names.map((name) => {
      const s = summarize(samples.get(name) as number[]);
      return {
        path: name,
        p50Ms: Number(s.p50.toFixed(4)),
        p95Ms: Number(s.p95.toFixed(4)),
        addedP50Ms: ortP50 === null ? null : Number((s.p50 - ortP50).toFixed(4)),
        ratioToOrt: ortP50 === null ? null : Number((s.p50 / ortP50).toFixed(2)),
      };
    });
    Object.assign(results, {
      model: MODEL,
      rounds: ROUNDS,
      perRound: PER_ROUND,
      latency: table,
      nodeFlags: AGENT_NODE_FLAGS,
      memory: {
        bareNodeOrtLoadedMb: bare.loadedMb,
        bareNodeOrtAfterMb: bare.afterMb,
        agentIdleMb: withFlags.idleMb,
        agentLoadedMb: withFlags.loadedMb,
        agentAfterRequestsMb: afterRssMb,
        agentRequests,
        withoutFlagsIdleMb: plain.idleMb,
        withoutFlagsLoadedMb: plain.loadedMb,
      },
      idleCpuPct: { noModel: Number(withFlags.idleCpu.toFixed(3)), serving: Number(withFlags.loadedCpu.toFixed(3)) },
    });
    printTable(table, results.memory as Record<string, number>, withFlags.idleCpu, withFlags.loadedCpu);
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
  mkdirSync(join('bench', 'results'), { recursive: true });
  const out = join('bench', 'results', `agent-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ ...results, host: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version } }, null, 2)}\n`,
  );
  process.stdout.write(`\nwritten ${out}\n`);
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
      `RSS agent (${AGENT_NODE_FLAGS.join(' ')}): idle ${memory.agentIdleMb} MB · loaded ${memory.agentLoadedMb} MB · after ${memory.agentRequests} requests ${memory.agentAfterRequestsMb} MB`,
      `RSS agent without node flags: idle ${memory.withoutFlagsIdleMb} MB · loaded ${memory.withoutFlagsLoadedMb} MB`,
      `idle CPU agent: no model ${idleCpu.toFixed(2)}% · serving ${loadedCpu.toFixed(2)}% of one core`,
    ].join('\n'),
  );
  process.stdout.write('\n');
}

await main();
