/** Worker-thread entry: runs one {@link runVariantJob} (or {@link runLatencyJob}) from workerData, posts the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runLatencyJob, runVariantJob, type LatencyJob, type VariantJob } from './variant-job.js';

const job = workerData as VariantJob | LatencyJob;
// Stages go up as `{ stage }` messages before the one result message (which never has that key).
const result =
  'kind' in job && job.kind === 'latency'
    ? await runLatencyJob(job)
    : await runVariantJob(job as VariantJob, (stage) => parentPort?.postMessage({ stage }));
parentPort?.postMessage(result);
