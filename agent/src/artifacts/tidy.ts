/**
 * The agent's bound on disk use (issue 18, finding 8). A download that fails keeps its
 * `downloads/<sha>.part` and chunk list so that a retry of the same artifact fetches only
 * what is missing; but a retry may never come, and every deployed variant used to stay in
 * `artifacts/` for good. This decides what to delete; `store.ts` lists and deletes.
 *
 *   - verified artifacts: only those the state file points at (current, last-known-good,
 *     previous: a rollback installs `previous` without a download) and the ones in `keep`
 *     (a deployment in progress) stay;
 *   - partial downloads: the ones in `keep` always stay; the others are kept newest first
 *     while their bytes fit `maxPartialBytes` and they are younger than `maxPartialAgeMs`.
 */

/** One file of the agent's store, as listed. */
export interface StoredFile {
  /** Path relative to the data directory, e.g. `downloads/<sha>.part`. */
  readonly path: string;
  readonly bytes: number;
  /** Last modification, ms since the epoch. */
  readonly mtimeMs: number;
}

export interface TidyLimits {
  /** Bytes of partial downloads kept for retries, besides the ones in `keep`. */
  readonly maxPartialBytes: number;
  /** Partial downloads untouched for longer than this are deleted, ms. */
  readonly maxPartialAgeMs: number;
}

/** Default: 64 MiB of partial downloads, for a day. */
export const DEFAULT_TIDY_LIMITS: TidyLimits = Object.freeze({
  maxPartialBytes: 64 * 1024 * 1024,
  maxPartialAgeMs: 24 * 3_600_000,
});

const SHA = '[0-9a-f]{64}';
const ARTIFACT_RE = new RegExp(`^artifacts/(${SHA})\\.onnx$`);
/** The partial file, its chunk list, and temp files of either (`writeFileAtomic` names them `<path>.<hex>.tmp`). */
const DOWNLOAD_RE = new RegExp(`^downloads/(${SHA})\\.(part|chunks\\.json)(\\.[0-9a-f]+\\.tmp)?$`);

/** Paths (relative to the data directory) to delete, and the bytes they free. */
export interface TidyPlan {
  readonly delete: readonly string[];
  readonly bytes: number;
  readonly artifacts: number;
  readonly partials: number;
}

/**
 * Chooses what to delete. Pure: `files` is the listing of `artifacts/` and `downloads/`,
 * `keep` the sha256s that must survive (state pointers and the deployment in progress).
 * Files whose names edgefleet did not write are left alone.
 */
export function planTidy(
  files: readonly StoredFile[],
  keep: ReadonlySet<string>,
  limits: TidyLimits,
  now: number,
): TidyPlan {
  const doomed: string[] = [];
  let bytes = 0;
  let artifacts = 0;
  const partials = new Map<string, { files: StoredFile[]; bytes: number; mtimeMs: number }>();
  for (const file of files) {
    const artifact = ARTIFACT_RE.exec(file.path);
    if (artifact) {
      if (!keep.has(artifact[1] as string)) {
        doomed.push(file.path);
        bytes += file.bytes;
        artifacts += 1;
      }
      continue;
    }
    const download = DOWNLOAD_RE.exec(file.path);
    if (!download || keep.has(download[1] as string)) continue;
    const group = partials.get(download[1] as string) ?? { files: [], bytes: 0, mtimeMs: 0 };
    group.files.push(file);
    group.bytes += file.bytes;
    group.mtimeMs = Math.max(group.mtimeMs, file.mtimeMs);
    partials.set(download[1] as string, group);
  }
  let kept = 0;
  let partialCount = 0;
  // Newest first: the most recent failure is the likeliest to be retried.
  for (const group of [...partials.values()].sort((a, b) => b.mtimeMs - a.mtimeMs)) {
    const fresh = now - group.mtimeMs <= limits.maxPartialAgeMs;
    if (fresh && kept + group.bytes <= limits.maxPartialBytes) {
      kept += group.bytes;
      continue;
    }
    partialCount += 1;
    for (const file of group.files) {
      doomed.push(file.path);
      bytes += file.bytes;
    }
  }
  return { delete: doomed, bytes, artifacts, partials: partialCount };
}
