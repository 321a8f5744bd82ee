/**
 * Variant builds as a queue in the store's Postgres (pg-boss), so any replica or a dedicated
 * `edgefleet worker` builds them, and a build whose worker died is run again. The planner
 * keeps calling a {@link VariantJobRunner}: the queued runner sends the job and waits for its
 * outcome; workers take jobs one at a time and run them with the same worker-thread runner as
 * a single server does. A job a dead worker held expires after `expireInSeconds` and pg-boss
 * retries it (up to `retryLimit` times); the job's state (created, active, retry, completed,
 * failed) is pg-boss's, read with {@link VariantQueue.state}.
 *
 * pg-boss 10: the last line that supports Node 20 (11 and 12 require Node 22).
 */
import PgBoss from 'pg-boss';
import { asError, type QueuedJobStatus } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import { stageFraction, type VariantBuildStage, type VariantJob, type VariantJobResult } from './variant-job.js';
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
  /** How often a sender looks at its job's state, ms. Default 500. */
  readonly pollMs?: number;
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
  close(): Promise<void>;
}

/**
 * The step each job's current run reached, beside pg-boss's own tables (in the same database,
 * created on start like pg-boss creates its schema): pg-boss has no progress of its own, and
 * its `output` is written only when a run ends.
 */
const PROGRESS_TABLE = `CREATE TABLE IF NOT EXISTS edgefleet_job_progress (
  job_id uuid PRIMARY KEY, stage text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`;
const RECORD_STAGE = `INSERT INTO edgefleet_job_progress (job_id, stage) VALUES ($1, $2)
  ON CONFLICT (job_id) DO UPDATE SET stage = excluded.stage, updated_at = now()`;
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
    retryDelay: 1,
    expireInSeconds: o.expireInSeconds ?? 900,
  });
  const db = boss.getDb();
  await db.executeSql(PROGRESS_TABLE, []).catch((err: unknown) => {
    // Two replicas starting at once may race to create it; the loser finds it there.
    if (!/already exists|duplicate key/.test(asError(err).message)) throw err;
  });
  const recordStage = (jobId: string, stage: VariantBuildStage) =>
    db.executeSql(RECORD_STAGE, [jobId, stage]).catch((err: unknown) => {
      log.warn({ jobId, stage, err: asError(err).message }, 'build progress not recorded; the build goes on');
    });
  const pollMs = o.pollMs ?? 500;
  const inFlight = new Set<string>();
  let closed = false;

  async function runner(job: VariantJob): Promise<VariantJobResult> {
    const id = await boss.send(VARIANT_QUEUE, job as unknown as object);
    if (id === null) throw new Error('the job queue refused the variant build');
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

  return {
    runner,
    async work(options = {}) {
      const runJob = options.runJob ?? runJobInWorker;
      await boss.work<VariantJob>(VARIANT_QUEUE, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
        if (!job) return null;
        log.info({ jobId: job.id, model: job.data.modelPath }, 'variant build started');
        try {
          const result = await runJob(job.data, (stage) => void recordStage(job.id, stage));
          log.info({ jobId: job.id, ok: result.ok }, 'variant build finished');
          return result;
        } catch (err: unknown) {
          // Thrown: pg-boss marks the job failed and retries it.
          log.warn({ jobId: job.id, err: asError(err).message }, 'variant build crashed');
          throw err;
        }
      });
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
    },
  };
}
