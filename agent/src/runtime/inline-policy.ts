/**
 * When the agent serves a model on its own thread (inline-model.ts) instead of a worker, and
 * the record that makes that choice safe across crashes.
 *
 * A model is promoted only after its swap (load, warm-up, smoke test in a worker) succeeded,
 * when the median of a few batch-1 runs in that worker is at most `maxRunMs`, and when the
 * inline session answers a probe bit for bit as the worker did. `inline.json` in the data
 * directory names the model serving inline while it does; a clean stop clears it. An agent
 * that finds it set at boot died while serving inline (watchdog kill, native crash, OOM kill,
 * power cut: it cannot tell which), so that model goes on the `refused` list and is served
 * from a worker for the rest of the installation. A model that was promoted once is
 * `proven`: after a restart it loads straight onto the agent thread, so the agent never
 * pays for a worker's heap it would throw away (glibc keeps a freed thread's arena mapped).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../artifacts/store.js';
import type { ModelWorker } from './model-worker.js';
import type { FloatTensor } from './ort.js';

export const INLINE_STATE_FILE = 'inline.json';

/** How the device chooses inline serving. */
export interface InlinePolicy {
  /** Largest median batch-1 run (onnxruntime's time, ms) served inline; 0 turns inline serving off. */
  readonly maxRunMs: number;
  /** A single inline run longer than this kills the agent (run-watchdog.ts), ms. Default 2000. */
  readonly hangDeadlineMs?: number;
}

export interface InlineState {
  /** The model serving inline right now (null: none, or the agent stopped cleanly). */
  readonly serving: string | null;
  /** Models the agent died while serving inline: they stay in a worker. */
  readonly refused: readonly string[];
  /** Models that passed promotion once: after a restart they load on the agent thread at once, no worker. */
  readonly proven: readonly string[];
}

const EMPTY: InlineState = Object.freeze({ serving: null, refused: [], proven: [] });
/** Proven models remembered (the store keeps only a few models anyway). */
const KEPT_PROVEN = 8;

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string') : [];

/** Adds `sha256` to the proven list, newest last. */
export function withProven(state: InlineState, sha256: string): InlineState {
  return { ...state, proven: [...state.proven.filter((s) => s !== sha256), sha256].slice(-KEPT_PROVEN) };
}

export async function readInlineState(dataDir: string): Promise<InlineState> {
  try {
    const parsed = JSON.parse(await readFile(join(dataDir, INLINE_STATE_FILE), 'utf8')) as Partial<InlineState>;
    return {
      serving: typeof parsed.serving === 'string' ? parsed.serving : null,
      refused: strings(parsed.refused),
      proven: strings(parsed.proven),
    };
  } catch {
    // Missing (never served inline) or unreadable: no model is refused, nothing is marked.
    return EMPTY;
  }
}

export function writeInlineState(dataDir: string, state: InlineState): Promise<void> {
  return writeFileAtomic(join(dataDir, INLINE_STATE_FILE), `${JSON.stringify(state)}\n`);
}

/**
 * At boot: a model still marked as serving inline means the last process died with it on
 * its thread. Refuses it from now on and clears the mark; returns the state to use.
 */
export async function recoverInlineState(dataDir: string, log: Logger): Promise<InlineState> {
  const state = await readInlineState(dataDir);
  if (state.serving === null) return state;
  log.warn(
    { sha256: state.serving },
    'the agent ended while serving this model on its own thread (hang, crash or power loss); it is served from a ' +
      'worker from now on',
  );
  const next = { ...state, serving: null, refused: [...new Set([...state.refused, state.serving])] };
  await writeInlineState(dataDir, next);
  return next;
}

/** Median of onnxruntime's own run time over `runs` batch-1 runs in the worker, ms. */
export async function medianRunMs(
  worker: ModelWorker,
  feeds: Readonly<Record<string, FloatTensor>>,
  runs = 21,
): Promise<{ medianMs: number; outputs: Record<string, FloatTensor> }> {
  const times: number[] = [];
  let outputs: Record<string, FloatTensor> = {};
  for (let i = 0; i < runs; i += 1) {
    const result = await worker.run(feeds);
    times.push(result.latencyMs);
    outputs = result.outputs;
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)] ?? Number.POSITIVE_INFINITY, outputs };
}

/** True when both runs returned the same outputs, bit for bit. */
export function sameOutputs(a: Readonly<Record<string, FloatTensor>>, b: Readonly<Record<string, FloatTensor>>) {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  return names.every((name) => {
    const x = a[name];
    const y = b[name];
    return (
      x !== undefined &&
      y !== undefined &&
      x.dims.join(',') === y.dims.join(',') &&
      x.data.length === y.data.length &&
      x.data.every((v, i) => Object.is(v, y.data[i]))
    );
  });
}
