/**
 * `edgefleet jobs` (issue 20): the queue's jobs as a table. A server on SQLite has no queue and
 * the command says where builds run instead; the table itself is checked on fixed rows (the
 * jobs of a real queue are checked in variant-queue.test.ts, through the same `jobs()`).
 */
import t from 'tap';
import { openSqliteStore } from '@edgefleet/server';
import { main } from '@edgefleet/cli';
import { jobsTable } from '@edgefleet/cli/commands/jobs';
import type { QueuedJobStatus } from '@edgefleet/shared';

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(['node', 'edgefleet', ...argv]), out };
  } finally {
    process.stdout.write = write;
  }
}

t.test('edgefleet jobs on a SQLite server: no queue, and where builds run instead', async (t) => {
  const dir = t.testdir();
  await openSqliteStore({ dataDir: dir }).close();
  const listed = await run(['jobs', '--data-dir', dir]);
  t.equal(listed.code, 0);
  t.match(listed.out, /no job queue .*in-process \(SQLite store\)/);
  const json = await run(['jobs', '--data-dir', dir, '--json']);
  t.same(JSON.parse(json.out), { queue: 'in-process', jobs: [] });
});

t.test('the jobs table shows state, attempts, step with its share, and the error', async (t) => {
  const now = 1_000_000;
  const job = (over: Partial<QueuedJobStatus>): QueuedJobStatus => ({
    id: '0f8e4c2a-1111-2222-3333-444455556666',
    state: 'active',
    attempts: 1,
    maxAttempts: 3,
    stage: 'compressing',
    progress: 0.25,
    error: null,
    model: '/shared/models/m.onnx',
    recipe: 'int8-dynamic',
    createdAt: now - 30_000,
    startedAt: now - 20_000,
    finishedAt: null,
    ...over,
  });
  const table = jobsTable(
    [
      job({}),
      job({ state: 'retry', attempts: 1, stage: 'evaluating', progress: 0.75, error: 'job expired', recipe: null }),
      job({ state: 'created', attempts: 0, stage: null, progress: 0 }),
    ],
    now,
  );
  t.match(table, /JOB\s+STATE\s+ATTEMPTS\s+STEP\s+RECIPE\s+QUEUED\s+ERROR/);
  t.match(table, /0f8e4c2a\s+active\s+1\/3\s+compressing 25%\s+int8-dynamic\s+30 s ago/);
  t.match(table, /retry\s+1\/3\s+evaluating 75%\s+baseline\s+30 s ago\s+job expired/);
  t.match(table, /created\s+0\/3\s+-\s+int8-dynamic/);
});
