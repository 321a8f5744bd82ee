/**
 * Host latency of a model at a chosen batch: what one call costs when a device runs its workload
 * `batch` samples at a time. A batch-1 figure does not scale to batch 32 by a constant (at batch 1
 * the fixed per-call cost dominates small models, see the reference note on this hardware), so a
 * class whose devices run batch 32 is predicted from a batch-32 measurement.
 */
import { EdgefleetError, stripUndefined } from '@edgefleet/shared';
import type { DataSourceOptions } from '../data/source.js';
import type { Dataset, SampleTensor } from '../data/tensor.js';
import { loadModel, readModelBytes } from '../ir/index.js';
import { createOrtSession } from '../runtime/ort.js';
import { datasetFor } from './evaluate.js';
import { batchFor, measureLatency } from './run.js';
import type { LatencyResult } from './schema.js';

export interface LatencyAtBatchOptions {
  readonly batch: number;
  /** Data spec the samples come from (as `evaluateModel`'s `data`); default `auto`. */
  readonly data?: string;
  readonly dataOptions?: DataSourceOptions;
  readonly threads?: number;
  readonly warmupRuns?: number;
  readonly timedRuns?: number;
}

/** `rows` samples from the start of `t`, cycling when it has fewer. */
function cycleRows(t: SampleTensor, count: number, rows: number): SampleTensor {
  const row = t.data.length / count;
  const data = new (t.data.constructor as new (n: number) => SampleTensor['data'])(row * rows);
  for (let i = 0; i < rows; i += 1) {
    const from = (i % count) * row;
    data.set(t.data.subarray(from, from + row) as never, i * row);
  }
  return { dtype: t.dtype, dims: [rows, ...t.dims.slice(1)], data };
}

/** The first `rows` samples of a dataset as one batch (repeated when the dataset is smaller). */
export function batchOf(ds: Dataset, rows: number): Dataset {
  if (ds.count === 0)
    throw new EdgefleetError('EF_ERR_DATA_SOURCE', `${ds.source} has no samples to time a batch with`);
  const inputs = Object.fromEntries(Object.entries(ds.inputs).map(([k, t]) => [k, cycleRows(t, ds.count, rows)]));
  return { source: ds.source, count: rows, inputs, ...(ds.fixed ? { fixed: ds.fixed } : {}) };
}

/**
 * Times one call at `batch` samples (or at the model's fixed batch when its graph fixes one:
 * then the result's `batch` says so).
 */
export async function measureLatencyAtBatch(modelPath: string, o: LatencyAtBatchOptions): Promise<LatencyResult> {
  const bytes = await readModelBytes(modelPath);
  const ds = datasetFor(loadModel(bytes), {
    ...stripUndefined({ data: o.data }),
    ...stripUndefined({ dataOptions: o.dataOptions }),
  });
  const threads = o.threads ?? 1;
  const session = await createOrtSession(bytes, { intraOpNumThreads: threads });
  try {
    const sample = batchOf(ds, batchFor(session, o.batch, ds));
    return await measureLatency(session, sample, {
      threads,
      ...stripUndefined({ warmupRuns: o.warmupRuns }),
      ...stripUndefined({ timedRuns: o.timedRuns }),
    });
  } finally {
    await session.release();
  }
}
