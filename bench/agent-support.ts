/**
 * Helpers of `npm run bench:agent`: the in-process paths (bare onnxruntime, the agent's
 * worker), a reference process holding only onnxruntime and the session, /proc readings,
 * and a data directory seeded as if the agent had installed the model (signed manifest,
 * artifact, last-known-good pointer), so it serves the model from its first second.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { openArtifactStore } from '@edgefleet/agent';
import { buildDesired } from '@edgefleet/server/deploy/index';
import { createManifestSigner, describeArtifact, generateSigningKeyPem } from '@edgefleet/shared';
import type { BenchInput, PathClient } from './agent-clients.js';

/** The agent's session options (agent/src/runtime/ort.ts), so both sides run the same thing. */
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

/** Bare onnxruntime-node on this thread: what every other path adds to. */
export async function bareOrtPath(model: Uint8Array, input: BenchInput): Promise<PathClient> {
  const session = await ort.InferenceSession.create(model, SESSION_OPTIONS);
  const output = session.outputNames[0] as string;
  return {
    async call() {
      const result = await session.run({ [input.name]: new ort.Tensor('float32', input.data, [...input.dims]) });
      return (result[output] as ort.Tensor).data as Float32Array;
    },
    close: () => void session.release(),
  };
}

/** The agent's own inference worker (built code), driven from this process. */
export async function inProcessWorkerPath(model: Uint8Array, input: BenchInput): Promise<PathClient> {
  const { createModelWorker } = (await import(
    new URL('../agent/dist/runtime/model-worker.js', import.meta.url).href
  )) as typeof import('@edgefleet/agent/runtime/model-worker');
  const worker = createModelWorker({ intraOpNumThreads: 1 });
  const loaded = await worker.load(model);
  const output = loaded.outputNames[0] as string;
  return {
    async call() {
      const { outputs } = await worker.run({ [input.name]: { dims: input.dims, data: input.data } });
      return (outputs[output] as { data: Float32Array }).data;
    },
    close: () => void worker.terminate(),
  };
}

/** The agent's inline model (built code): the session on this thread, with its run watchdog. */
export async function inProcessInlinePath(model: Uint8Array, input: BenchInput): Promise<PathClient> {
  const { createInlineModel } = (await import(
    new URL('../agent/dist/runtime/inline-model.js', import.meta.url).href
  )) as typeof import('@edgefleet/agent/runtime/inline-model');
  const inline = await createInlineModel(model, { hangDeadlineMs: 2000, label: 'bench' });
  const output = inline.info()?.outputNames[0] as string;
  return {
    async call() {
      const { outputs } = await inline.run({ [input.name]: { dims: input.dims, data: input.data } });
      return (outputs[output] as { data: Float32Array }).data;
    },
    close: () => void inline.terminate(),
  };
}

/** RSS of a separate `node` that loads onnxruntime and the session, then after `runs` runs. */
export async function measureBareRss(
  modelPath: string,
  input: BenchInput,
  runs: number,
): Promise<{ loadedMb: number; afterMb: number }> {
  const script = `
    const ort = require('onnxruntime-node');
    const fs = require('node:fs');
    const rss = () =>
      Math.round(Number(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024);
    (async () => {
      const s = await ort.InferenceSession.create(
        fs.readFileSync(${JSON.stringify(modelPath)}),
        ${JSON.stringify(SESSION_OPTIONS)},
      );
      const data = new Float32Array(${input.data.length});
      await new Promise((r) => setTimeout(r, 1000));
      const loaded = rss();
      const feed = () => ({
        ${JSON.stringify(input.name)}: new ort.Tensor('float32', data, ${JSON.stringify(input.dims)}),
      });
      for (let i = 0; i < ${runs}; i++) await s.run(feed());
      await new Promise((r) => setTimeout(r, 1000));
      process.stdout.write(JSON.stringify({ loadedMb: loaded, afterMb: rss() }));
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (p: Buffer) => {
    out += p.toString();
  });
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as { loadedMb: number; afterMb: number };
}

/** Resident set size of a process, MB (VmRSS: the threads of the process included). */
export function procRssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
}

/**
 * RSS of the processes `pid` started (the inline watchdog's bash supervisor), MB, one
 * decimal: separate processes, so not in the agent's own VmRSS, but the device pays for them.
 */
export function childRssMb(pid: number): number {
  let kb = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]) !== pid) continue;
      kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // The process ended meanwhile.
    }
  }
  return Math.round(kb / 102.4) / 10;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU a process has used, seconds (/proc/<pid>/stat fields 14 and 15). */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Writes the model into an agent data directory as an installed, last-known-good model. */
export async function seedAgentDataDir(dataDir: string, model: Uint8Array, input: BenchInput): Promise<void> {
  const store = await openArtifactStore(dataDir);
  const layout = describeArtifact(model);
  const tmp = join(dataDir, 'seed.onnx');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(tmp, model);
  await store.adopt(layout.sha256, tmp);
  const signer = createManifestSigner(generateSigningKeyPem());
  const golden = {
    inputs: {
      [input.name]: {
        dims: [...input.dims],
        data: Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength).toString('base64'),
      },
    },
    labels: [0],
    minAccuracy: 0,
  };
  const desired = buildDesired(signer, {
    deviceId: 'bench-agent',
    deviceClass: 'rpi4',
    deploymentId: 'bench-seed',
    rolloutId: 'bench',
    purpose: 'rollout',
    variantId: 'mnist-cnn',
    layout,
    golden,
    budgets: null,
    previous: null,
    issuedAt: Date.now(),
  });
  const pointer = { sha256: layout.sha256, variantId: 'mnist-cnn', deploymentId: 'bench-seed', desired };
  await store.saveState({ current: pointer, lastKnownGood: pointer, previous: null, outcomes: [] });
}

/** p50 and p95 of a sample, ms. */
export function summarize(values: readonly number[]): { p50: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p95: at(0.95) };
}
