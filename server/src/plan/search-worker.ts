/** Worker-thread entry: runs one search from workerData, posting progress and then the result or the error. */
import { parentPort, workerData } from 'node:worker_threads';
import { isEdgefleetError } from '@edgefleet/shared';
import type { SearchRunInput } from './search-jobs.js';
import { runSearch } from './search-run.js';

try {
  const output = await runSearch(workerData as SearchRunInput, (progress) =>
    parentPort?.postMessage({ type: 'progress', progress }),
  );
  parentPort?.postMessage({ type: 'done', output });
} catch (err: unknown) {
  parentPort?.postMessage(
    isEdgefleetError(err)
      ? { type: 'error', code: err.code, message: err.message }
      : { type: 'error', code: 'EF_ERR_SEARCH_FAILED', message: err instanceof Error ? err.message : String(err) },
  );
}
