/**
 * The watchdog of inline serving (inline-model.ts). A model that runs on the agent's own
 * thread cannot be interrupted from that thread: while onnxruntime computes, the event loop
 * (MQTT link, local API, timers) stands still. So a second, tiny thread (no imports, ~3 MB
 * resident) watches a shared word the serving thread sets around every run. If one run
 * stays in progress past the deadline, the watchdog writes why to stderr (synchronously: the
 * main thread, which owns process.stderr, is stuck) and kills the process with SIGKILL,
 * since nothing short of that stops native code. The agent's data directory still marks
 * the model as serving inline (inline-policy.ts), so the restarted agent (systemd:
 * Restart=on-failure) serves that model from an isolated worker from then on.
 *
 * Marking a run costs a few atomic adds; the watchdog polls, so runs never wake it.
 */
import { Worker } from 'node:worker_threads';

export interface RunWatchdog {
  /** Call before a run starts (cheap: two atomic adds). */
  enter(): void;
  /** Call when the run has returned or thrown. */
  leave(): void;
  /** Ends the watchdog thread. Idempotent. */
  stop(): Promise<void>;
}

export interface RunWatchdogOptions {
  /** A run in progress for longer than this is a hang, ms. */
  readonly deadlineMs: number;
  /** What the watchdog prints before it kills the process (the model's digest, say). */
  readonly label: string;
}

/** Word 0: runs in progress. Word 1: runs started, word 2: runs ended (progress tells a stuck run from many short ones). */
const IN_RUN = 0;
const STARTED = 1;
const ENDED = 2;

// Plain JavaScript evaluated in the thread: no module graph, no TypeScript loader, a few MB.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const words = new Int32Array(workerData.shared);
const tickMs = Math.max(10, Math.min(250, Math.floor(workerData.deadlineMs / 4)));
let seen = '';
let since = 0;
setInterval(() => {
  const progress = Atomics.load(words, ${STARTED}) + ',' + Atomics.load(words, ${ENDED});
  if (Atomics.load(words, ${IN_RUN}) === 0 || progress !== seen) {
    seen = progress;
    since = Date.now();
    return;
  }
  if (Date.now() - since < workerData.deadlineMs) return;
  writeSync(2, JSON.stringify({ level: 60, msg: 'inline inference hung; killing the agent so it restarts with this model in a worker', model: workerData.label, deadlineMs: workerData.deadlineMs }) + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, tickMs);
`;

/** Starts the watchdog thread for one inline model. */
export function startRunWatchdog(options: RunWatchdogOptions): RunWatchdog {
  const shared = new SharedArrayBuffer(12);
  const words = new Int32Array(shared);
  const thread = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { shared, deadlineMs: options.deadlineMs, label: options.label },
    // The watchdog needs none of the agent's loaders or flags.
    execArgv: [],
  });
  // The watchdog must never keep an agent alive that is otherwise done.
  thread.unref();
  thread.on('error', () => undefined);
  let stopped = false;
  return Object.freeze({
    enter() {
      Atomics.add(words, STARTED, 1);
      Atomics.add(words, IN_RUN, 1);
    },
    leave() {
      Atomics.sub(words, IN_RUN, 1);
      Atomics.add(words, ENDED, 1);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await thread.terminate();
    },
  });
}
