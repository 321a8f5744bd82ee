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
import { asError } from '@edgefleet/shared';
import type { Logger } from '../log/logger.js';
import type { VariantJob, VariantJobResult } from './variant-job.js';
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

export interface VariantQueue {
  /** Sends a job and resolves with its outcome (the planner's runner). */
  readonly runner: VariantJobRunner;
  /** Takes jobs and builds them here, one at a time, until closed. */
  work(options?: { readonly runJob?: VariantJobRunner }): Promise<void>;
  /** A job's state and retries, or null when unknown. */
  state(id: string): Promise<{ readonly state: string; readonly retryCount: number } | null>;
  /** Ids of jobs sent by this process and not finished yet. */
  inFlight(): string[];
  close(): Promise<void>;
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
          const result = await runJob(job.data);
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
    inFlight: () => [...inFlight],
    async close() {
      closed = true;
      await boss.stop({ graceful: true, timeout: 5_000, wait: true });
    },
  };
}
