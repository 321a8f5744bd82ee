/**
 * Variant builds as a queue in the store's Postgres (pg-boss), so any replica or a dedicated
 * `edgefleet worker` builds them, and a build whose worker died is run again. The planner
 * keeps calling a {@link VariantJobRunner}: the queued runner sends the job and waits for its
 * outcome; workers take jobs one at a time and run them with the same worker-thread runner as
 * a single server does. A job a dead worker held expires after `expireInSeconds` and pg-boss
 * retries it (up to `retryLimit` times); the job's state (created, active, retry, completed,
 * failed) is pg-boss's, read with {@link VariantQueue.state}.
 *
 * A job of a planner's build is keyed as the planner keys variants (model sha and recipe key,
 * {@link jobIdOf}): asking again for a build that is queued, running or done joins that job
 * instead of queuing a second one, whichever replica asks. The worker that finishes it stores
 * the variant row (given `variants`), so the result lands in the store even when the replica
 * that asked died meanwhile. A worker that dies is noticed through its Postgres session
 * (job-liveness.ts) and its build retried at the next {@link VariantQueue.sweep}, not after
 * the expiry.
 *
 * pg-boss 10: the last line that supports Node 20 (11 and 12 require Node 22).
 */
import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import { asError, type QueuedJobStatus } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { VariantRepository } from '../store/variants.js';
import {
  DEAD_RUNS,
  FORGOTTEN_PROGRESS,
  holdWorkerLiveness,
  PROGRESS_TABLE,
  RECORD_STAGE,
  type WorkerLiveness,
} from './job-liveness.js';
import {
  stageFraction,
  type VariantBuildStage,
  type VariantJob,
  type VariantJobResult,
  type VariantTarget,
} from './variant-job.js';
import { resultOfRow, variantRowOf } from './variant-row.js';
import { runJobInWorker, type VariantJobRunner } from './variants.js';

export const VARIANT_QUEUE = 'edgefleet-variant-build';

export interface VariantQueueOptions {
  readonly connectionString: string;
  readonly logger: Logger;
  /** A build running longer than this is taken for dead and retried. Default 900 s. */
  readonly expireInSeconds?: number;
  /** Retries after a failure or an expiry. Default 2. */
  readonly retryLimit?: number;
  /** How often expired jobs are looked for, s. Default 30. */
  readonly maintenanceIntervalSeconds?: number;
  /** How often a sender looks at its job's state, ms. Default 250. */
  readonly pollMs?: number;
  /**
   * Where a worker stores the variant row of a build that names its target (the store the
   * replicas share). Without it the builds' askers store their results (and a result whose asker
   * died is kept only in the job's output).
   */
  readonly variants?: Pick<VariantRepository, 'get' | 'put'>;
  /** Clock of a stored row's created_at; default Date.now. */
  readonly now?: () => number;
}

/** A queued build as the API shows it. */
export type QueuedJob = QueuedJobStatus;

export interface VariantQueue {
  /** Sends a job and resolves with its outcome (the planner's runner). */
  readonly runner: VariantJobRunner;
  /** Takes jobs and builds them here, one at a time, until closed. */
  work(options?: { readonly runJob?: VariantJobRunner }): Promise<void>;
  /** A job's state and retries, or null when unknown. */
  state(id: string): Promise<{ readonly state: string; readonly retryCount: number } | null>;
  /** The newest jobs first (at most `limit`, default 50), or one job by id. */
  jobs(filter?: { readonly id?: string; readonly limit?: number }): Promise<QueuedJob[]>;
  /** Ids of jobs sent by this process and not finished yet. */
  inFlight(): string[];
  /**
   * Fails the builds whose worker died (its liveness session ended), so pg-boss retries them now,
   * and removes progress rows of jobs pg-boss forgot. Returns the ids failed. Replicas run it on
   * their scheduler, under one owner.
   */
  sweep(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The job id of a build: the variant's key (model sha, recipe key) as a UUID, so every replica
 * asking for the same variant names the same job.
 */
export function jobIdOf(target: Pick<VariantTarget, 'modelSha' | 'recipeKey'>): string {
  const h = createHash('sha256').update(`${target.modelSha}/${target.recipeKey}`).digest('hex');
  // Version nibble 8 (custom, RFC 9562) and the RFC variant bits, so it is a well-formed UUID.
  const variant = ((Number.parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const LIST_JOBS = (where: string) => `SELECT j.id, j.state, j.retry_count, j.retry_limit, j.created_on,
    j.started_on, j.completed_on, j.output, j.data->>'modelPath' AS model, j.data->'recipe'->>'name' AS recipe,
    j.data->'recipe' IS NOT NULL AND j.data->>'recipe' <> 'null' AS compresses, p.stage
  FROM pgboss.job j LEFT JOIN edgefleet_job_progress p ON p.job_id = j.id
  WHERE j.name = $1 ${where} ORDER BY j.created_on DESC LIMIT $2`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface JobRow {
  id: string;
  state: string;
  retry_count: number;
  retry_limit: number;
  created_on: Date;
  started_on: Date | null;
  completed_on: Date | null;
  output: unknown;
  model: string | null;
  recipe: string | null;
  compresses: boolean;
  stage: VariantBuildStage | null;
}

/** The error of a run: a build's `{ok: false}` message, or what pg-boss stored for a throw or an expiry. */
function errorOf(row: JobRow): string | null {
  const out = row.output;
  if (isResult(out)) return out.ok ? null : `${out.code}: ${out.message}`;
  if (row.state === 'completed' || out === null || out === undefined) return null;
  if (typeof out === 'object' && 'message' in out && typeof out.message === 'string') return out.message;
  return JSON.stringify(out).slice(0, 300);
}

function toQueuedJob(row: JobRow): QueuedJob {
  const done = row.state === 'completed';
  // pg-boss counts retries; runs started are one more once the job left `created` (unless it waits to retry).
  const attempts = row.state === 'created' ? 0 : row.state === 'retry' ? row.retry_count : row.retry_count + 1;
  return {
    id: row.id,
    state: row.state,
    attempts,
    maxAttempts: row.retry_limit + 1,
    stage: done ? 'done' : row.stage,
    progress: done ? 1 : row.stage ? stageFraction(row.stage) : 0,
    error: errorOf(row),
    model: row.model ?? '',
    recipe: row.compresses ? (row.recipe ?? 'inline recipe') : null,
    createdAt: row.created_on.getTime(),
    startedAt: row.started_on?.getTime() ?? null,
    finishedAt: row.completed_on?.getTime() ?? null,
  };
}

function isResult(value: unknown): value is VariantJobResult {
  return typeof value === 'object' && value !== null && 'ok' in value && typeof value.ok === 'boolean';
}

export async function startVariantQueue(o: VariantQueueOptions): Promise<VariantQueue> {
  const log = o.logger.child({ component: 'variant-queue' });
  const boss = new PgBoss({
    connectionString: o.connectionString,
    max: 4,
    maintenanceIntervalSeconds: o.maintenanceIntervalSeconds ?? 30,
    application_name: 'edgefleet-jobs',
  });
  boss.on('error', (err: Error) => log.warn({ err: err.message }, 'job queue error'));
  await boss.start();
  // createQueue is idempotent; every replica and worker may call it.
  await boss.createQueue(VARIANT_QUEUE, {
    name: VARIANT_QUEUE,
    retryLimit: o.retryLimit ?? 2,
    // At once: a dead worker's build has waited long enough, and a build that threw is deterministic work.
    retryDelay: 0,
    expireInSeconds: o.expireInSeconds ?? 900,
  });
  const db = boss.getDb();
  for (const sql of PROGRESS_TABLE)
    await db.executeSql(sql, []).catch((err: unknown) => {
      // Two replicas starting at once may race to create it; the loser finds it there.
      if (!/already exists|duplicate key/.test(asError(err).message)) throw err;
    });
  const now = o.now ?? Date.now;
  const pollMs = o.pollMs ?? 250;
  const inFlight = new Set<string>();
  let closed = false;
  /** This process's worker liveness (taken when it starts working, taken again if its session ended). */
  let liveness: WorkerLiveness | null = null;

  const recordStage = (jobId: string, stage: VariantBuildStage): Promise<unknown> =>
    db.executeSql(RECORD_STAGE, [jobId, stage, liveness?.alive() ? liveness.id : null]).catch((err: unknown) => {
      log.warn({ jobId, stage, err: asError(err).message }, 'build progress not recorded; the build goes on');
    });

  async function holdLiveness(): Promise<void> {
    if (liveness?.alive()) return;
    try {
      liveness = await holdWorkerLiveness(o.connectionString, (why) =>
        log.warn({ why }, 'worker liveness session lost; builds running here may be retried elsewhere'),
      );
    } catch (err: unknown) {
      // Without it a dead worker's build waits for its expiry, as in plain pg-boss.
      log.warn({ err: asError(err).message }, 'worker liveness not held; a build lost here waits for its expiry');
    }
  }

  /** Sends the build, or joins the job of the same variant already queued, running or finished. */
  async function enqueue(job: VariantJob): Promise<string> {
    const data = job as unknown as object;
    if (!job.target) {
      const id = await boss.send(VARIANT_QUEUE, data);
      if (id === null) throw new Error('the job queue refused the variant build');
      return id;
    }
    const id = jobIdOf(job.target);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if ((await boss.send(VARIANT_QUEUE, data, { id })) !== null) return id;
      const found = await boss.getJobById(VARIANT_QUEUE, id);
      if (found === null) continue; // archived or deleted since the send: send again
      // It failed for good earlier and its asker stored no failure (it died): asked again, it is tried again.
      if (found.state === 'failed') await boss.retry(VARIANT_QUEUE, id);
      if (found.state === 'cancelled') await boss.resume(VARIANT_QUEUE, id);
      log.info({ jobId: id, state: found.state }, 'joined the build of this variant already in the queue');
      return id;
    }
    throw new Error(`the job queue neither took nor kept variant build ${id}`);
  }

  async function runner(job: VariantJob): Promise<VariantJobResult> {
    const id = await enqueue(job);
    inFlight.add(id);
    try {
      for (;;) {
        const found = await boss.getJobById(VARIANT_QUEUE, id);
        if (found?.state === 'completed' && isResult(found.output)) return found.output;
        if (found?.state === 'failed' || found?.state === 'cancelled' || found === null) {
          const output = JSON.stringify(found?.output ?? null).slice(0, 300);
          return {
            ok: false,
            code: 'EF_ERR_COMPRESS_FAILED',
            message:
              `variant build job ${id} ${found?.state ?? 'vanished'} after ${found?.retryCount ?? 0} ` +
              `retries: ${output}`,
            compressed: false,
          };
        }
        if (closed) throw new Error(`the job queue closed while job ${id} was ${found.state}`);
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    } finally {
      inFlight.delete(id);
    }
  }

  /** One build taken from the queue: answered from the store when an earlier run stored it, else built and stored. */
  async function build(id: string, data: VariantJob, runJob: VariantJobRunner): Promise<VariantJobResult> {
    await holdLiveness();
    // Awaited: the sweep must know this run is this worker's before the build starts.
    await recordStage(id, 'reading');
    const target = data.target;
    const stored = target && o.variants ? await o.variants.get(target.modelSha, target.recipeKey) : null;
    if (stored) {
      log.info({ jobId: id }, 'variant already stored (an earlier run of this job); not built again');
      return resultOfRow(stored);
    }
    log.info({ jobId: id, model: data.modelPath }, 'variant build started');
    const result = await runJob(data, (stage) => void recordStage(id, stage));
    // Stored before the job completes: a worker dying in between leaves a retry that finds the row.
    if (target && o.variants) await o.variants.put(variantRowOf(target, result, now()));
    log.info({ jobId: id, ok: result.ok, stored: target !== undefined && o.variants !== undefined }, 'variant built');
    return result;
  }

  return {
    runner,
    async work(options = {}) {
      const runJob = options.runJob ?? runJobInWorker;
      await holdLiveness();
      await boss.work<VariantJob>(VARIANT_QUEUE, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
        if (!job) return null;
        try {
          return await build(job.id, job.data, runJob);
        } catch (err: unknown) {
          // Thrown: pg-boss marks the job failed and retries it.
          log.warn({ jobId: job.id, err: asError(err).message }, 'variant build crashed');
          throw err;
        }
      });
    },
    async sweep() {
      const { rows } = await db.executeSql(DEAD_RUNS, [VARIANT_QUEUE]);
      const ids = (rows as { id: string }[]).map((r) => r.id);
      if (ids.length > 0) {
        const why = { message: 'the worker running it died (its Postgres session ended); retried' };
        for (const id of ids) await boss.fail(VARIANT_QUEUE, id, why);
        log.warn({ jobs: ids }, 'builds whose worker died are retried');
      }
      await db.executeSql(FORGOTTEN_PROGRESS, []);
      return ids;
    },
    async state(id) {
      const found = await boss.getJobById(VARIANT_QUEUE, id);
      return found ? { state: found.state, retryCount: found.retryCount } : null;
    },
    async jobs(filter = {}) {
      if (filter.id !== undefined && !UUID.test(filter.id)) return [];
      const limit = Math.max(1, Math.min(filter.limit ?? 50, 500));
      const { rows } =
        filter.id === undefined
          ? await db.executeSql(LIST_JOBS(''), [VARIANT_QUEUE, limit])
          : await db.executeSql(LIST_JOBS('AND j.id = $3::uuid'), [VARIANT_QUEUE, limit, filter.id]);
      return (rows as JobRow[]).map(toQueuedJob);
    },
    inFlight: () => [...inFlight],
    async close() {
      closed = true;
      await boss.stop({ graceful: true, timeout: 5_000, wait: true });
      // After the builds stopped: a build still running past the timeout is then retried elsewhere.
      await liveness?.close();
    },
  };
}
