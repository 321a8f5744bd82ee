import { Command } from 'commander';
import { jobListSchema, type QueuedJobStatus } from '@edgefleet/shared';
import { addAdminFlags, withFleet, type AdminFlags } from '../fleet-connection.js';
import { formatAge, formatTable } from './devices.js';

/** `reading 0%`, `evaluating 75%`, `done 100%`, or `-` before the first run. */
function stepOf(job: QueuedJobStatus): string {
  return job.stage === null ? '-' : `${job.stage} ${Math.round(job.progress * 100)}%`;
}

export function jobsTable(jobs: readonly QueuedJobStatus[], nowMs: number): string {
  const rows = jobs.map((j) => [
    j.id.slice(0, 8),
    j.state,
    `${j.attempts}/${j.maxAttempts}`,
    stepOf(j),
    j.recipe ?? 'baseline',
    formatAge(j.createdAt, nowMs),
    j.error === null ? '' : j.error.slice(0, 80),
  ]);
  return formatTable(['JOB', 'STATE', 'ATTEMPTS', 'STEP', 'RECIPE', 'QUEUED', 'ERROR'], rows);
}

/** `edgefleet jobs`: compression jobs on the replicas' shared queue (`GET /v1/jobs`). */
export function jobsCommand(): Command {
  return addAdminFlags(new Command('jobs'))
    .description(
      'List variant builds on the job queue of servers on Postgres, newest first: state, attempts, the step ' +
        'reached (reading, compressing, writing, evaluating) and the error of a failed run. Through the admin API.',
    )
    .argument('[id]', 'one job (its full id)')
    .option('--limit <n>', 'at most this many jobs', '50')
    .option('--json', 'print JSON (the API response) instead of a table')
    .action((id: string | undefined, flags: AdminFlags & { json?: boolean; limit: string }) =>
      withFleet(flags, { command: 'edgefleet jobs', writes: false }, async (api, fleet) => {
        const query = id === undefined ? `?limit=${encodeURIComponent(flags.limit)}` : `?id=${encodeURIComponent(id)}`;
        const list = await api.get(`/v1/jobs${query}`, jobListSchema);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        if (list.queue === 'in-process') {
          process.stdout.write(
            `no job queue (${fleet.via}): this server builds variants in-process (SQLite store); ` +
              '`edgefleet plan` shows their progress. Servers on Postgres (`--store postgres://…`) share a queue.\n',
          );
          return;
        }
        if (list.jobs.length === 0) {
          process.stdout.write(
            id === undefined
              ? 'no jobs on the queue yet\n'
              : `no job ${id} on the queue (ids come from \`edgefleet jobs\`)\n`,
          );
          return;
        }
        process.stdout.write(`${jobsTable(list.jobs, Date.now())}\n`);
      }),
    );
}
