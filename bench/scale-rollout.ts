/**
 * The rollout phase of `npm run bench:scale`: a ~1 MB variant to `devices` online devices of one
 * class, waited for until it ends (or `timeoutMs`), with what it costs and where its time went:
 * when each wave's devices had all succeeded, the farms' view of each install (manifest issued →
 * heard, and the download itself), the chunk servers' counters summed over replicas (only the
 * rollouts' owner serves chunks), and every replica's event-loop delay and backlog while it ran.
 */
import type { Child } from './scale-children.js';
import { meterRoles, type RoleUsage } from './scale-procs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/** What a farm says each second about its installs (bench/scale-farm.ts). */
export interface FarmInstalls {
  readonly installs: Record<string, number>;
  readonly installTimes?: Record<string, { n: number; p50: number | null; p90: number | null; max: number | null }>;
}

export interface RolloutRun {
  readonly label: string;
  readonly replicas: readonly Child[];
  readonly roles: Map<string, () => number[]>;
  readonly progress: readonly FarmInstalls[];
  readonly deviceClass: string;
  readonly devices: number;
  readonly hidden: number;
  readonly timeoutMs: number;
}

/** A status ask that takes this long is logged and asked again; only `timeoutMs` ends the wait. */
const STATUS_ASK_MS = 60_000;
const ENDED = ['completed', 'aborted'];

interface Status {
  state: string;
  byState: Record<string, number>;
}

export async function runRollout(run: RolloutRun): Promise<Record<string, unknown>> {
  const starter = run.replicas[run.replicas.length - 1] as Child;
  const { ids } = (await starter.ask({ type: 'class-devices', deviceClass: run.deviceClass, limit: run.devices })) as {
    ids: string[];
  };
  say(`${run.label}: rollout to ${ids.length} devices`);
  if (ids.length === 0) return { devices: 0, variantBytes: 0, ms: 0, state: 'not started: no device online' };
  const meter = meterRoles(run.roles);
  meter.start();
  const r0 = performance.now();
  const request = { type: 'rollout', deviceClass: run.deviceClass, deviceIds: ids, hidden: run.hidden };
  // Starting plans every device's wave and stores the artifact: on a busy store that is slow, not failed.
  const started = (await starter.ask(request, run.timeoutMs)) as { id: string; bytes: number };
  const startMs = Math.round(performance.now() - r0);
  let status: Status = { state: 'in-progress', byState: {} };
  /** Seconds from the start until this many devices had succeeded (each wave's end, and every 100). */
  const reached: Record<string, number> = {};
  const marks = [...new Set([10, 100, 550, ...Array.from({ length: 20 }, (_, i) => (i + 1) * 100), ids.length])];
  const health: unknown[] = [];
  while (performance.now() - r0 < run.timeoutMs) {
    try {
      status = (await starter.ask({ type: 'rollout-status', id: started.id }, STATUS_ASK_MS)) as Status;
    } catch (err: unknown) {
      say(`${run.label}: status not answered (${err instanceof Error ? err.message : String(err)}); asking again`);
      continue;
    }
    const t = Math.round(performance.now() - r0) / 1000;
    for (const m of marks) if ((status.byState['succeeded'] ?? 0) >= m && reached[m] === undefined) reached[m] = t;
    if (ENDED.includes(status.state)) break;
    const h = await healthOf(run.replicas);
    health.push({ t, ...h });
    say(`${run.label}: rollout ${t.toFixed(0)} s ${JSON.stringify(status.byState)} ${JSON.stringify(h)}`);
    await sleep(2_000);
  }
  const ms = Math.round(performance.now() - r0);
  const usage: RoleUsage[] = meter.stop();
  const chunks = await chunkStats(run.replicas);
  const succeeded = status.byState['succeeded'] ?? 0;
  return {
    devices: ids.length,
    variantBytes: started.bytes,
    ms,
    startMs,
    state: ENDED.includes(status.state) ? status.state : `not finished in ${run.timeoutMs / 1000} s`,
    byState: status.byState,
    // Artifact bytes that reached devices, over the whole rollout (waves wait for each other).
    deliveredMBps: Number(((succeeded * started.bytes) / 1e6 / (ms / 1000)).toFixed(2)),
    secondsToSucceeded: reached,
    ...farmInstalls(run.progress),
    chunks,
    health,
    usage,
  };
}

/** Every replica's event-loop delay, RSS and backlog; a replica too busy to answer in 10 s says so. */
export async function healthOf(replicas: readonly Child[]): Promise<unknown[]> {
  return Promise.all(
    replicas.map((r) => r.ask({ type: 'health' }, 10_000).catch((err: unknown) => ({ unanswered: String(err) }))),
  );
}

/** Chunk-server counters summed over replicas (nacks by reason, slot waits). */
async function chunkStats(replicas: readonly Child[]) {
  const all = (await Promise.all(replicas.map((r) => r.ask({ type: 'chunks' })))) as Array<{
    requests: number;
    chunksSent: number;
    bytesSent: number;
    nacks: Record<string, number>;
    slots: { busyReplies: number; meanHoldMs: number | null };
  }>;
  const nacks: Record<string, number> = {};
  for (const s of all) for (const [k, v] of Object.entries(s.nacks)) nacks[k] = (nacks[k] ?? 0) + v;
  return {
    requests: all.reduce((n, s) => n + s.requests, 0),
    chunksSent: all.reduce((n, s) => n + s.chunksSent, 0),
    bytesSent: all.reduce((n, s) => n + s.bytesSent, 0),
    nacks,
    busyReplies: all.reduce((n, s) => n + s.slots.busyReplies, 0),
    meanSlotHoldMs: all.map((s) => s.slots.meanHoldMs),
  };
}

/** The farms' counts of verified and failed downloads, and their timing summaries per farm. */
function farmInstalls(progress: readonly FarmInstalls[]) {
  let succeeded = 0;
  let failed = 0;
  for (const p of progress) {
    succeeded += p?.installs['succeeded'] ?? 0;
    failed += p?.installs['failed'] ?? 0;
  }
  return {
    downloadsVerified: succeeded,
    downloadsFailed: failed,
    installTimesPerFarm: progress.map((p) => p?.installTimes),
  };
}
