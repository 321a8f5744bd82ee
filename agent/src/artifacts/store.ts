/**
 * The agent's on-disk state under its data directory:
 *
 *   artifacts/<sha256>.onnx          verified models, content-addressed
 *   downloads/<sha256>.part          a download in progress (chunks written in place)
 *   downloads/<sha256>.chunks.json   which chunks of the .part are verified
 *   state.json                       current / last-known-good / previous pointers and
 *                                    the outcome of recent deployments
 *
 * Every file that is replaced is written to a temp file, fsynced and renamed over the old
 * one, so a crash leaves either the old or the new version, never a torn one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgefleetError, sha256Hex, errnoCode, type DeployReport, type Desired } from '@edgefleet/shared/device';
import { planTidy, type StoredFile, type TidyLimits, type TidyPlan } from './tidy.js';

/** A model the agent has installed, with the signed manifest it came with. */
export interface ModelPointer {
  readonly sha256: string;
  readonly variantId: string;
  readonly deploymentId: string;
  /** The verified desired message (golden set and budgets stay available after a reboot). */
  readonly desired: Desired;
}

export interface AgentState {
  /** The model switched in most recently (may not have finished its swap). */
  readonly current: ModelPointer | null;
  /** The last model whose whole swap succeeded: what serves after a reboot. */
  readonly lastKnownGood: ModelPointer | null;
  /** The last-known-good before that one (kept in the store for a quick rollback). */
  readonly previous: ModelPointer | null;
  /** Terminal reports of recent deployments, newest last (re-sent when the manifest is redelivered). */
  readonly outcomes: readonly DeployReport[];
}

/** How many terminal outcomes state.json keeps. */
export const KEPT_OUTCOMES = 32;

const EMPTY_STATE: AgentState = Object.freeze({ current: null, lastKnownGood: null, previous: null, outcomes: [] });

/** Writes `data` to `path` atomically (temp + fsync + rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

export interface ArtifactStore {
  readonly dataDir: string;
  artifactPath(sha256: string): string;
  partPath(sha256: string): string;
  bitmapPath(sha256: string): string;
  /** True when the verified artifact is in the store. */
  has(sha256: string): Promise<boolean>;
  /** Reads an artifact and re-checks its digest; rejects with EF_ERR_ARTIFACT_INTEGRITY on a mismatch. */
  read(sha256: string): Promise<Uint8Array>;
  /** Moves a fully verified file into the store under its digest. */
  adopt(sha256: string, fromPath: string): Promise<void>;
  /** Drops the partial download of an artifact. */
  discardPartial(sha256: string): Promise<void>;
  loadState(): Promise<AgentState>;
  saveState(state: AgentState): Promise<void>;
  /**
   * Bounds disk use (tidy.ts): deletes verified artifacts the state file does not point at
   * and that are not in `keep`, and partial downloads beyond the limits; returns what went.
   */
  tidy(keep: Iterable<string>, limits: TidyLimits, now: number): Promise<TidyPlan>;
}

/** Opens (creating folders as needed) the store under `dataDir`. */
export async function openArtifactStore(dataDir: string): Promise<ArtifactStore> {
  const artifactsDir = join(dataDir, 'artifacts');
  const downloadsDir = join(dataDir, 'downloads');
  await mkdir(artifactsDir, { recursive: true });
  await mkdir(downloadsDir, { recursive: true });
  const statePath = join(dataDir, 'state.json');
  const artifactPath = (sha: string) => join(artifactsDir, `${sha}.onnx`);

  async function has(sha256: string): Promise<boolean> {
    try {
      return (await stat(artifactPath(sha256))).isFile();
    } catch {
      return false;
    }
  }

  async function read(sha256: string): Promise<Uint8Array> {
    const bytes = await readFile(artifactPath(sha256));
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      throw new EdgefleetError(
        'EF_ERR_ARTIFACT_INTEGRITY',
        `stored artifact ${sha256} now hashes to ${actual}; it will be fetched again`,
        { expected: sha256, actual },
      );
    }
    return bytes;
  }

  async function loadState(): Promise<AgentState> {
    try {
      const parsed = JSON.parse(await readFile(statePath, 'utf8')) as Partial<AgentState>;
      return { ...EMPTY_STATE, ...parsed };
    } catch (err: unknown) {
      if (errnoCode(err) === 'ENOENT') return EMPTY_STATE;
      // Atomic writes make a torn file unlikely; if it happens, start empty rather than crash.
      return EMPTY_STATE;
    }
  }

  /** Every file of `artifacts/` and `downloads/`, relative to the data directory. */
  async function listFiles(): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    for (const sub of ['artifacts', 'downloads']) {
      for (const name of await readdir(join(dataDir, sub)).catch(() => [] as string[])) {
        const info = await stat(join(dataDir, sub, name)).catch(() => null);
        if (info?.isFile()) files.push({ path: `${sub}/${name}`, bytes: info.size, mtimeMs: info.mtimeMs });
      }
    }
    return files;
  }

  async function tidy(keep: Iterable<string>, limits: TidyLimits, now: number): Promise<TidyPlan> {
    const state = await loadState();
    const kept = new Set(keep);
    for (const pointer of [state.current, state.lastKnownGood, state.previous]) if (pointer) kept.add(pointer.sha256);
    const plan = planTidy(await listFiles(), kept, limits, now);
    for (const path of plan.delete) await rm(join(dataDir, path), { force: true });
    return plan;
  }

  return Object.freeze({
    dataDir,
    artifactPath,
    tidy,
    partPath: (sha: string) => join(downloadsDir, `${sha}.part`),
    bitmapPath: (sha: string) => join(downloadsDir, `${sha}.chunks.json`),
    has,
    read,
    adopt: async (sha256: string, fromPath: string) => {
      await rename(fromPath, artifactPath(sha256));
    },
    discardPartial: async (sha256: string) => {
      await rm(join(downloadsDir, `${sha256}.part`), { force: true });
      await rm(join(downloadsDir, `${sha256}.chunks.json`), { force: true });
    },
    loadState,
    saveState: (state: AgentState) =>
      writeFileAtomic(statePath, `${JSON.stringify({ ...state, outcomes: state.outcomes.slice(-KEPT_OUTCOMES) })}\n`),
  });
}
