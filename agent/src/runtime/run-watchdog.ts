/**
 * The watchdog of inline serving (inline-model.ts). A model that runs on the agent's own
 * thread cannot be interrupted from that thread: while onnxruntime computes, the event loop
 * (MQTT link, local API, timers) stands still, and nothing on that thread can notice.
 *
 * So the agent starts a supervisor that is not part of it: a ten-line bash script (below;
 * `ps -ef` shows `bash -c … edgefleet-watchdog`), a separate process of ~3 MB resident (0.3
 * MB private) with no V8 in it. The agent writes a heartbeat line to
 * the script's stdin from a timer every quarter of the deadline; the timer only fires while
 * the event loop turns. When no line arrives within the deadline, the script writes why to
 * the agent's stderr (the journal, under systemd) and kills the agent with SIGKILL, since
 * nothing short of that stops native code. The agent's data directory still marks the model
 * as serving inline (inline-policy.ts), so the restarted agent (systemd: Restart=on-failure)
 * serves that model from an isolated worker from then on. When the agent exits for any
 * reason, its end of the pipe closes and the script exits too.
 *
 * What it watches is the event loop, not one run: any stall longer than the deadline while a
 * model serves inline kills the agent (a systemd WatchdogSec= would do the same, but an
 * agent must send its keep-alives to $NOTIFY_SOCKET as datagrams, which Node cannot send;
 * see docs/design-notes.md, "Device agent"). A previous version ran this watch in a worker
 * thread: a V8 isolate that cost ~10 MB of the agent's resident memory for a timer.
 *
 * Without bash the watchdog cannot start, and the model is served from a worker instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunWatchdog {
  /** Ends the supervisor (closes its pipe) and the heartbeat. Idempotent. */
  stop(): Promise<void>;
}

export interface RunWatchdogOptions {
  /** The event loop standing still for longer than this while serving inline is a hang, ms. */
  readonly deadlineMs: number;
  /** What the watchdog prints before it kills the process (the model's digest, say). */
  readonly label: string;
  /** Called once if the supervisor exits while it should be watching (killed, say). */
  readonly onLost?: (reason: string) => void;
}

/**
 * $1 deadline in seconds, $2 label, $3 the agent's pid. `read -t` returns above 128 on a
 * timeout and 1 at end of file (the agent closed the pipe or is gone). Numbers and the
 * label (a hex digest) need no JSON escaping. The signals a stop sends to the whole group
 * (Ctrl-C in a terminal, `systemctl stop`) are ignored: the supervisor ends when the agent
 * does, not before it (which the agent would take for a lost watchdog).
 */
const SUPERVISOR_SCRIPT = `
trap '' INT TERM HUP
while :; do
  IFS= read -r -t "$1" _
  status=$?
  [ "$status" -eq 0 ] && continue
  [ "$status" -le 128 ] && exit 0
  printf '{"level":60,"msg":"%s %s","model":"%s","deadlineS":%s}\\n' \\
    'inline inference hung: the event loop stood still past the watchdog deadline;' \\
    'killing the agent so it restarts with this model in a worker' \\
    "$2" "$1" >&2
  kill -KILL "$3"
  exit 0
done
`;

/** Starts the supervisor for one inline model; rejects when it cannot start (no bash). */
export async function startRunWatchdog(options: RunWatchdogOptions): Promise<RunWatchdog> {
  const deadlineS = (Math.max(1, options.deadlineMs) / 1000).toFixed(3);
  const child: ChildProcess = spawn(
    'bash',
    ['-c', SUPERVISOR_SCRIPT, 'edgefleet-watchdog', deadlineS, options.label, String(process.pid)],
    // stdout unused; stderr is the agent's, so the last words land where the agent's logs do.
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: Error) =>
      reject(new Error(`the inline watchdog could not start (bash: ${err.message}); install bash`)),
    );
  });
  // Later errors (a signal that could not be sent) change nothing: 'exit' says when it is gone.
  child.on('error', () => undefined);
  const stdin = child.stdin;
  if (!stdin) throw new Error('the inline watchdog started without a pipe');
  let stopped = false;
  // A broken pipe (supervisor gone) is reported through 'exit' below; the write error adds nothing.
  stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const heartbeat = setInterval(() => stdin.write('\n'), Math.max(1, Math.floor(options.deadlineMs / 4)));
  child.on('exit', (code, signal) => {
    clearInterval(heartbeat);
    if (!stopped) options.onLost?.(`the inline watchdog exited (${signal ?? `code ${code}`})`);
  });
  // Neither the heartbeat nor the supervisor may keep an agent alive that is otherwise done.
  heartbeat.unref();
  child.unref();
  (stdin as unknown as { unref?: () => void }).unref?.();
  return Object.freeze({
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      stdin.end();
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Held again while it ends, or a caller awaiting this would see its process exit first.
      child.ref();
      await exited;
    },
  });
}
