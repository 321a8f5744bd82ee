/**
 * The server's default {@link SearchRunner}: the search (search-run.ts) in a fresh worker thread,
 * so training and onnxruntime never block the server's event loop. Progress and the result come
 * back as messages; an error keeps its catalogue code.
 */
import { EdgefleetError, spawnModuleWorker } from '@edgefleet/shared';
import type { SearchRunOutput, SearchRunProgress, SearchRunner } from './search-jobs.js';

/** What search-worker.ts posts. */
interface WorkerMessage {
  readonly type: 'progress' | 'done' | 'error';
  readonly progress?: SearchRunProgress;
  readonly output?: SearchRunOutput;
  readonly code?: string;
  readonly message?: string;
}

export const runSearchInWorker: SearchRunner = (input, onProgress) =>
  new Promise((resolveRun, reject) => {
    const worker = spawnModuleWorker(new URL('./search-worker.js', import.meta.url), { workerData: input });
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      finish();
      void worker.terminate();
    };
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
          new EdgefleetError('EF_ERR_SEARCH_FAILED', `the search worker exited with code ${code} before answering`, {}),
        ),
      ),
    );
  });
