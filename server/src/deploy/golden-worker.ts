/** Worker-thread entry: runs one {@link runGoldenJob} from workerData and posts the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { type GoldenJob, runGoldenJob } from './golden-job.js';

const result = await runGoldenJob(workerData as GoldenJob);
parentPort?.postMessage(result);
