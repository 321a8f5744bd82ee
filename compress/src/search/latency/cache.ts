import { readFile } from 'node:fs/promises';
import { writeBytesAtomic } from '../../ir/index.js';
import { latencyTableSchema, type HostFingerprint, type LatencyTable } from './cost-model.js';
import { hostFingerprint, measureLatencyTable, type MicrobenchOptions } from './microbench.js';

/**
 * The microbenchmark table is cached in a JSON file so a search does not re-measure the host
 * each time (a full suite takes tens of seconds). A cache is used only when it describes this
 * host (CPU model, core count, onnxruntime version, threads); otherwise, or when the file is
 * missing or unreadable, the suite is measured again and the file rewritten (atomically), and
 * the caller is told why.
 */
export interface CachedTable {
  readonly table: LatencyTable;
  readonly from: 'cache' | 'measured';
  /** Why the cache was not used (absent when it was). */
  readonly reason?: string;
}

const sameHost = (a: HostFingerprint, b: HostFingerprint): boolean =>
  a.cpu === b.cpu && a.cores === b.cores && a.runtime === b.runtime && a.threads === b.threads;

/** Read a cached table; the reason it cannot be used when it cannot. */
export async function readCachedTable(
  path: string,
  host: HostFingerprint = hostFingerprint(),
): Promise<{ table: LatencyTable } | { reason: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    const code = (err as { code?: string }).code;
    return { reason: code === 'ENOENT' ? 'no cached table yet' : `cannot read ${path}: ${String(err)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { reason: `${path} is not JSON` };
  }
  const parsed = latencyTableSchema.safeParse(json);
  if (!parsed.success) return { reason: `${path} is not a latency table of this version` };
  if (!sameHost(parsed.data.host, host))
    return {
      reason: `${path} was measured on ${parsed.data.host.cpu} (${parsed.data.host.runtime}), not on this host`,
    };
  return { table: parsed.data };
}

/** The cached table for this host, or a fresh measurement written to `path`. */
export async function loadOrMeasureLatencyTable(path: string, opts: MicrobenchOptions = {}): Promise<CachedTable> {
  const cached = await readCachedTable(path);
  if ('table' in cached) return { table: cached.table, from: 'cache' };
  const table = await measureLatencyTable(opts);
  await writeBytesAtomic(path, new TextEncoder().encode(`${JSON.stringify(table, null, 1)}\n`));
  return { table, from: 'measured', reason: cached.reason };
}
