/**
 * Which builds of the variant queue still have a live worker, through Postgres sessions (as
 * ownership.ts does for once-only work). pg-boss 10 only learns that a worker died when the
 * job's `expireInSeconds` passes, 15 minutes by default (a build may honestly run that long),
 * so a replica killed with -9 would leave its build `active` that long. Here each worker holds
 * a session-level advisory lock named by a random id on one connection for as long as it
 * lives, and writes that id on the progress row of every build it takes; Postgres ends a
 * killed process's session and frees the lock, so a build whose worker's lock is free is
 * failed at once and pg-boss retries it (with its retry limit, as after an expiry).
 *
 * The same sweep removes the progress rows of jobs pg-boss no longer has (it archives and then
 * deletes jobs on its own schedule, and knows nothing of this table).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** Namespace of worker liveness locks (first key of the two-int advisory lock): "EFW". */
export const WORKER_LOCK_SPACE = 0x45_46_57;

/** The progress table beside pg-boss's (created on start, like pg-boss creates its schema). */
export const PROGRESS_TABLE = [
  `CREATE TABLE IF NOT EXISTS edgefleet_job_progress (
    job_id uuid PRIMARY KEY, stage text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
  // The worker running the job's current run (its liveness lock's id); null in rows of older versions.
  'ALTER TABLE edgefleet_job_progress ADD COLUMN IF NOT EXISTS worker text',
];

/** Records the step a build reached, and which worker runs it. */
export const RECORD_STAGE = `INSERT INTO edgefleet_job_progress (job_id, stage, worker) VALUES ($1, $2, $3)
  ON CONFLICT (job_id) DO UPDATE SET stage = excluded.stage, worker = excluded.worker, updated_at = now()`;

/**
 * Active jobs whose current run (a progress row written since the run started) belongs to a
 * worker whose liveness lock nobody holds: that worker's session ended, so it died.
 */
export const DEAD_RUNS = `SELECT j.id FROM pgboss.job j JOIN edgefleet_job_progress p ON p.job_id = j.id
  WHERE j.name = $1 AND j.state = 'active' AND p.worker IS NOT NULL AND p.updated_at >= j.started_on
    AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
      AND l.classid = ${WORKER_LOCK_SPACE}::oid AND l.objid = hashtext(p.worker)::oid AND l.objsubid = 2)`;

/** Progress rows of jobs pg-boss has archived or deleted. */
export const FORGOTTEN_PROGRESS = `DELETE FROM edgefleet_job_progress p
  WHERE NOT EXISTS (SELECT 1 FROM pgboss.job j WHERE j.id = p.job_id)`;

/** A worker's liveness: its id, held as an advisory lock until `close()` (or until the process dies). */
export interface WorkerLiveness {
  readonly id: string;
  /** False once the lock session ended (the sweep then takes this worker's builds for dead). */
  alive(): boolean;
  close(): Promise<void>;
}

/** Takes a fresh worker id's lock on a connection of its own. */
export async function holdWorkerLiveness(
  connectionString: string,
  onLost: (why: string) => void,
): Promise<WorkerLiveness> {
  const id = randomUUID();
  const client = new pg.Client({ connectionString, keepAlive: true, application_name: 'edgefleet-worker' });
  let alive = false;
  let closing = false;
  const lost = (why: string) => {
    if (!alive || closing) return;
    alive = false;
    onLost(why);
  };
  client.on('error', (err) => lost(err.message));
  client.on('end', () => lost('connection ended'));
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [WORKER_LOCK_SPACE, id]);
  } catch (err: unknown) {
    await client.end().catch(() => undefined);
    throw err;
  }
  alive = true;
  return {
    id,
    alive: () => alive,
    async close() {
      closing = true;
      alive = false;
      await client.end().catch(() => undefined);
    },
  };
}
