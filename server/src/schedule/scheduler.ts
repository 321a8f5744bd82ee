/**
 * The server's one scheduler: every recurring job (presence sweep, rollout evaluation, the
 * class desired-state check, telemetry retention, the control loop's tick, the dynamic security
 * token sweep) is a named task here, with no overlap (a run that is due while the previous
 * one still runs is skipped and counted, as node-cron's `noOverlap` does). Time comes from the
 * injected {@link Clock}: on the system clock tasks run in real time; a test or a scenario
 * injects a virtual clock and runs them by advancing it.
 *
 * A clock that jumps over several due times of a task at once (a virtual clock advanced by a
 * step) runs it once: the later runs come due while the first is still in flight.
 *
 * Cron-like ticks use node-cron's expression language (6 fields, seconds first) and its
 * matcher. node-cron's own runner reads `Date` and `setTimeout` directly, so it cannot be
 * driven by an injected clock; here the next matching second is found with node-cron's
 * `match` and waited for on the clock instead.
 */
import type { Clock, TimerHandle } from '@edgefleet/shared';
import cron from 'node-cron';
import type { Logger } from '../log/logger.js';

/** When a task runs: every `everyMs` on the clock, or on a node-cron expression. */
export type TaskSchedule = { readonly everyMs: number } | { readonly cron: string };

export interface TaskSpec {
  /** Unique, for logs and metrics (`edgefleet_scheduler_runs_total{task}`). */
  readonly name: string;
  readonly schedule: TaskSchedule;
  /** One run; `at` is the clock time it was due. Errors are logged and counted, never thrown. */
  run(at: number): Promise<unknown> | unknown;
}

export interface TaskStatus {
  readonly name: string;
  readonly schedule: string;
  readonly runs: number;
  readonly failures: number;
  /** Runs skipped because the previous one had not finished. */
  readonly overlaps: number;
  readonly running: boolean;
  readonly lastRunAt: number | null;
  readonly nextRunAt: number | null;
}

export interface Scheduler {
  /** Adds a task; it starts with the scheduler (or at once when the scheduler already runs). */
  add(task: TaskSpec): void;
  start(): void;
  /** Cancels every pending run and waits for the runs in progress. */
  stop(): Promise<void>;
  /** Resolves once no run is in progress (runs already due have started by then). */
  idle(): Promise<void>;
  tasks(): TaskStatus[];
}

/** A cron expression that fires every `s` seconds (seconds field when under a minute). */
export function cronEvery(s: number): string {
  if (!Number.isInteger(s) || s < 1 || s > 3600)
    throw new RangeError(`tickSeconds must be an integer from 1 to 3600, got ${s}`);
  if (s < 60) return `*/${s} * * * * *`;
  return `0 */${Math.max(1, Math.round(s / 60))} * * * *`;
}

/** The longest a cron expression may wait for its next match: one day, in seconds. */
const MAX_CRON_SEARCH_S = 86_400;

/** Finds the next time after `from` (exclusive, on whole seconds) that `matches`; null within a day of none. */
export function nextCronMatch(matches: (date: Date) => boolean, from: number): number | null {
  let t = Math.floor(from / 1000) * 1000 + 1000;
  for (let i = 0; i < MAX_CRON_SEARCH_S; i += 1, t += 1000) if (matches(new Date(t))) return t;
  return null;
}

interface Task {
  readonly spec: TaskSpec;
  readonly describe: string;
  readonly next: (after: number) => number | null;
  readonly destroy: () => void;
  timer: TimerHandle | null;
  nextRunAt: number | null;
  running: Promise<void> | null;
  runs: number;
  failures: number;
  overlaps: number;
  lastRunAt: number | null;
}

export function createScheduler(options: { readonly clock: Clock; readonly logger: Logger }): Scheduler {
  const { clock } = options;
  const log = options.logger.child({ component: 'scheduler' });
  const tasks = new Map<string, Task>();
  let started = false;

  function build(spec: TaskSpec): Task {
    const common = { spec, timer: null, nextRunAt: null, running: null, runs: 0, failures: 0, overlaps: 0 };
    if ('everyMs' in spec.schedule) {
      const every = spec.schedule.everyMs;
      if (!(Number.isFinite(every) && every > 0))
        throw new RangeError(`task ${spec.name}: everyMs must be a positive number of ms, got ${every}`);
      return {
        ...common,
        lastRunAt: null,
        describe: `every ${every} ms`,
        next: (after) => after + every,
        destroy: () => {},
      };
    }
    const expression = spec.schedule.cron;
    if (!cron.validate(expression)) throw new RangeError(`task ${spec.name}: invalid cron expression ${expression}`);
    // A stopped node-cron task, used for its matcher only; it never runs on its own.
    const matcher = cron.createTask(expression, () => undefined, { name: spec.name, noOverlap: true });
    return {
      ...common,
      lastRunAt: null,
      describe: `cron ${expression}`,
      next: (after) => nextCronMatch((d) => matcher.match(d), after),
      destroy: () => void matcher.destroy(),
    };
  }

  function arm(task: Task, after: number): void {
    const at = task.next(after);
    task.nextRunAt = at;
    if (at === null) {
      log.warn({ task: task.spec.name, schedule: task.describe }, 'task has no run within a day; it is not scheduled');
      return;
    }
    task.timer = clock.setTimeout(() => fire(task, at), Math.max(0, at - clock.now()));
  }

  function fire(task: Task, at: number): void {
    task.timer = null;
    if (!started) return;
    // From the later of due time and now: a process that stalled skips the missed runs instead of racing through them.
    arm(task, Math.max(at, clock.now()));
    if (task.running) {
      task.overlaps += 1;
      log.debug({ task: task.spec.name, at }, 'previous run still in progress; this one is skipped');
      return;
    }
    task.lastRunAt = at;
    task.runs += 1;
    const execution: Promise<void> = Promise.resolve()
      .then(() => task.spec.run(at))
      .then(
        () => undefined,
        (err: unknown) => {
          task.failures += 1;
          log.error({ err, task: task.spec.name }, 'scheduled task failed');
        },
      )
      .finally(() => {
        if (task.running === execution) task.running = null;
      });
    task.running = execution;
  }

  function disarm(task: Task): void {
    if (task.timer) clock.clearTimeout(task.timer);
    task.timer = null;
    task.nextRunAt = null;
  }

  return {
    add(spec) {
      if (tasks.has(spec.name)) throw new Error(`a task named ${spec.name} is already scheduled`);
      const task = build(spec);
      tasks.set(spec.name, task);
      if (started) arm(task, clock.now());
    },
    start() {
      if (started) return;
      started = true;
      for (const task of tasks.values()) arm(task, clock.now());
      log.debug({ tasks: [...tasks.values()].map((t) => `${t.spec.name} (${t.describe})`) }, 'scheduler started');
    },
    async stop() {
      started = false;
      for (const task of tasks.values()) disarm(task);
      await Promise.all([...tasks.values()].map((t) => t.running));
      for (const task of tasks.values()) task.destroy();
    },
    async idle() {
      // A run may finish by starting work that another task waits for; look again until none runs.
      for (let busy = [...tasks.values()].filter((t) => t.running); busy.length > 0; ) {
        await Promise.all(busy.map((t) => t.running));
        busy = [...tasks.values()].filter((t) => t.running);
      }
    },
    tasks: () =>
      [...tasks.values()].map((t) => ({
        name: t.spec.name,
        schedule: t.describe,
        runs: t.runs,
        failures: t.failures,
        overlaps: t.overlaps,
        running: t.running !== null,
        lastRunAt: t.lastRunAt,
        nextRunAt: t.nextRunAt,
      })),
  };
}
