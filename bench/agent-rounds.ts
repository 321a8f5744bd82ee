/**
 * How `npm run bench:agent` takes its latency samples: paths interleaved round by round (so
 * every path sees the same machine load), and a labelled extra phase with the agent and the
 * bench pinned to one CPU (`taskset`), for the framed socket's floor on this host without the
 * scheduler's choice of CPU. Also the in-process `ort-direct` path: onnxruntime's native
 * session called synchronously, as the agent now calls it (agent/src/runtime/ort.ts).
 */
import { execFileSync } from 'node:child_process';
import type { BenchInput, PathClient } from './agent-clients.js';

/** Samples (ms) per path: `rounds` rounds of `perRound` calls each, the order rotated every round. */
export async function interleave(
  paths: ReadonlyMap<string, PathClient>,
  rounds: number,
  perRound: number,
  onRound?: (done: number) => void,
): Promise<Map<string, number[]>> {
  const names = [...paths.keys()];
  const samples = new Map<string, number[]>(names.map((k) => [k, []]));
  for (let round = 0; round < rounds; round += 1) {
    // Rotate the order every round so no path always runs right after another.
    const order = names.map((_, i) => names[(i + round) % names.length] as string);
    for (const name of order) {
      const client = paths.get(name) as PathClient;
      const into = samples.get(name) as number[];
      for (let i = 0; i < perRound; i += 1) {
        const t0 = performance.now();
        await client.call();
        into.push(performance.now() - t0);
      }
    }
    onRound?.(round + 1);
  }
  return samples;
}

/** Sets the CPU affinity of every thread of `pids` (taskset -a); false when taskset is missing or refused. */
export function pinProcesses(pids: readonly number[], cpuList: string): boolean {
  try {
    for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The pinned phase: the given paths again, with the bench process, the agent and the echo
 * (all threads) on CPU 0 only, then every CPU again. Both ends of a request then always meet
 * on one CPU: no cross-CPU wake-up, but no overlap either. Null when pinning is not possible.
 */
export async function pinnedSamples(
  paths: ReadonlyMap<string, PathClient>,
  pids: readonly number[],
  rounds: number,
  perRound: number,
  cpuCount: number,
): Promise<Map<string, number[]> | null> {
  const all = `0-${Math.max(0, cpuCount - 1)}`;
  if (!pinProcesses([process.pid, ...pids], '0')) return null;
  try {
    for (const client of paths.values()) for (let i = 0; i < 300; i += 1) await client.call();
    return await interleave(paths, rounds, perRound);
  } finally {
    pinProcesses([process.pid, ...pids], all);
  }
}

/** onnxruntime's native session on this thread, called synchronously (the agent's own session code). */
export async function directOrtPath(model: Uint8Array, input: BenchInput): Promise<PathClient> {
  const { createOrtSession } = (await import(
    new URL('../agent/dist/runtime/ort.js', import.meta.url).href
  )) as typeof import('@edgefleet/agent/runtime/ort');
  const session = await createOrtSession(model, { intraOpNumThreads: 1, via: 'direct' });
  const output = session.outputNames[0] as string;
  return {
    async call() {
      const { outputs } = await session.run({ [input.name]: { dims: input.dims, data: input.data } });
      return (outputs[output] as { data: Float32Array }).data;
    },
    close: () => undefined,
  };
}
