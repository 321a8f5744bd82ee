/** Worker-thread entry: runs one {@link runVariantJob} from workerData and posts the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runVariantJob, type VariantJob } from './variant-job.js';

const result = await runVariantJob(workerData as VariantJob);
parentPort?.postMessage(result);
