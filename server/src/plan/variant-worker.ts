/** Worker-thread entry: runs one {@link runVariantJob} (or {@link runLatencyJob}) from workerData, posts the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runLatencyJob, runVariantJob, type LatencyJob, type VariantJob } from './variant-job.js';

const job = workerData as VariantJob | LatencyJob;
const result =
  'kind' in job && job.kind === 'latency' ? await runLatencyJob(job) : await runVariantJob(job as VariantJob);
parentPort?.postMessage(result);
