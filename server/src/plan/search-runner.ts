/**
 * The server's default {@link SearchRunner}: the search (search-run.ts) in a fresh worker thread,
 * so training and onnxruntime never block the server's event loop. Progress and the result come
 * back as messages; an error keeps its catalogue code.
 *
 * A search with a time budget stops itself: candidates and finalists check the budget at every
 * training step (search-model.ts). What a step cannot interrupt (a pruned teacher's least-squares
 * refit runs for tens of seconds on mnist-cnn-large) is bounded here: past the budget and a grace
 * the worker is terminated and the job fails with EF_ERR_SEARCH_TIMEOUT. The worker writes
 * nothing the store reads (its candidate file is appended a line at a time and a cut line is
 * dropped on resume; the finalist file is written atomically and only stored as a variant by the
 * main thread after a `done` message), so terminating it leaves nothing half-written.
 */
import { EdgefleetError, spawnModuleWorker } from '@edgefleet/shared';
import { searchGraceMs } from '@edgefleet/compress/search/search-model';
import type { SearchRunOutput, SearchRunProgress, SearchRunner } from './search-jobs.js';

/** What search-worker.ts posts. */
interface WorkerMessage {
  readonly type: 'progress' | 'done' | 'error';
  readonly progress?: SearchRunProgress;
  readonly output?: SearchRunOutput;
  readonly code?: string;
  readonly message?: string;
}

export interface WorkerSearchRunnerOptions {
  /** Grace past the time budget before the worker is terminated; default {@link searchGraceMs}. */
  readonly graceMs?: (timeBudgetMs: number) => number;
  /** The worker's module; default search-worker.js (tests pass one that never answers). */
  readonly workerUrl?: URL;
}

export function createWorkerSearchRunner(opts: WorkerSearchRunnerOptions = {}): SearchRunner {
  const graceOf = opts.graceMs ?? searchGraceMs;
  const url = opts.workerUrl ?? new URL('./search-worker.js', import.meta.url);
  return (input, onProgress) =>
    new Promise((resolveRun, reject) => {
      const worker = spawnModuleWorker(url, { workerData: input });
      let settled = false;
      let watchdog: NodeJS.Timeout | undefined;
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        finish();
        void worker.terminate();
      };
      const budget = input.request.timeBudgetMs;
      if (budget !== undefined) {
        const grace = graceOf(budget);
        watchdog = setTimeout(
          () =>
            settle(() =>
              reject(
                new EdgefleetError(
                  'EF_ERR_SEARCH_TIMEOUT',
                  `the search ran past its time budget of ${Math.round(budget / 1000)} s and a grace of ` +
                    `${Math.round(grace / 1000)} s (in a step it cannot interrupt, e.g. a refit) and was ` +
                    'terminated; nothing was stored. Give it more time (timeBudgetMs) or fewer evaluations',
                  { timeBudgetMs: budget, graceMs: grace },
                ),
              ),
            ),
          budget + grace,
        );
      }
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress' && m.progress) onProgress(m.progress);
        else if (m.type === 'done' && m.output) {
          const output = m.output;
          settle(() => resolveRun(output));
        } else if (m.type === 'error') {
          // The worker only posts catalogue codes (search-worker.ts); anything else is a failure.
          const code = m.code === 'EF_ERR_SEARCH_OPTIONS' ? m.code : 'EF_ERR_SEARCH_FAILED';
          settle(() => reject(new EdgefleetError(code, m.message ?? 'search failed', {})));
        }
      });
      worker.once('error', (err) => settle(() => reject(err)));
      worker.once('exit', (code) =>
        settle(() =>
          reject(
            new EdgefleetError(
              'EF_ERR_SEARCH_FAILED',
              `the search worker exited with code ${code} before answering`,
              {},
            ),
          ),
        ),
      );
    });
}

export const runSearchInWorker: SearchRunner = createWorkerSearchRunner();
