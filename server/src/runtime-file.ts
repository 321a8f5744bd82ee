/**
 * Who holds a data directory. The process that runs the services on a data directory (the
 * server, or the CLI when no server runs) claims it by creating `<dataDir>/server.json`
 * exclusively, and writes there how to reach its admin API: the URL, a token that lives only
 * in that process, and the certificate to trust. The file is mode 0600: whoever can read it
 * could read the store anyway. Another process on the same data directory reads it to become
 * an API client instead of a second writer; a file whose process is gone is stale and taken
 * over.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { asError, EdgefleetError, errnoCode } from '@edgefleet/shared';
import { z } from 'zod';

export const RUNTIME_FILE = 'server.json';

export const runtimeInfoSchema = z.object({
  v: z.literal(1),
  pid: z.number().int().positive(),
  /** `server` (edgefleet server or demo) or `cli` (a command running the services itself). */
  kind: z.enum(['server', 'cli']),
  /** What holds it, for messages: `edgefleet server`, `edgefleet plan`. */
  command: z.string(),
  startedAt: z.number().int().nonnegative(),
  /** `starting` until the API listens; `off` when the server runs without one (`--api-port -1`). */
  api: z.discriminatedUnion('state', [
    z.object({ state: z.literal('starting') }),
    z.object({ state: z.literal('off') }),
    z.object({
      state: z.literal('listening'),
      url: z.string().url(),
      /** Admin token valid in this process only. */
      token: z.string().min(20),
      /** PEM certificate to trust for an https URL (the server's own). */
      certFile: z.string().nullable(),
    }),
  ]),
});
export type RuntimeInfo = z.infer<typeof runtimeInfoSchema>;

/** A claimed data directory; `publish` updates what the file says, `release` removes it. */
export interface DataDirClaim {
  readonly path: string;
  publish(api: RuntimeInfo['api']): void;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

/** What the runtime file of a data directory says, or null when there is none or its process is gone. */
export function readRuntimeInfo(dataDir: string): RuntimeInfo | null {
  let text: string;
  try {
    text = readFileSync(join(resolve(dataDir), RUNTIME_FILE), 'utf8');
  } catch {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Files appear whole (written aside, then linked or renamed): one that does not parse is damaged.
    return null;
  }
  const parsed = runtimeInfoSchema.safeParse(json);
  if (!parsed.success || !alive(parsed.data.pid)) return null;
  return parsed.data;
}

export function describeHolder(info: RuntimeInfo): string {
  return `${info.command} (pid ${info.pid}, since ${new Date(info.startedAt).toISOString()})`;
}

/**
 * Claims `dataDir` (created when missing) for this process. Throws EF_ERR_STORE_BUSY naming
 * the holder when another live process holds it; takes over a file left by a process that is gone.
 */
export function claimDataDir(
  dataDir: string,
  holder: { readonly kind: RuntimeInfo['kind']; readonly command: string; readonly now: number },
): DataDirClaim {
  const dir = resolve(dataDir);
  const path = join(dir, RUNTIME_FILE);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_STORE_OPEN',
      `cannot create data directory ${dir}: ${asError(err).message}; choose another --data-dir`,
      { dataDir: dir },
      { cause: err },
    );
  }
  let info: RuntimeInfo = {
    v: 1,
    pid: process.pid,
    kind: holder.kind,
    command: holder.command,
    startedAt: holder.now,
    api: { state: 'starting' },
  };
  const tmp = `${path}.${process.pid}.tmp`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      // Written aside and linked into place: the link fails if the file exists, and a reader never sees half of it.
      writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
      linkSync(tmp, path);
      break;
    } catch (err: unknown) {
      if (errnoCode(err) !== 'EEXIST' || attempt > 0) throw claimError(dir, path, err);
      const current = readRuntimeInfo(dir);
      if (current) throw busy(dir, current);
      // Stale: its process is gone (or the file is damaged); take it over once.
      rmSync(path, { force: true });
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  let released = false;
  return {
    path,
    publish(api) {
      if (released) return;
      info = { ...info, api };
      // Replace atomically, so a reader never sees half a file.
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
      renameSync(tmp, path);
    },
    release() {
      if (released) return;
      released = true;
      const current = readRuntimeInfo(dir);
      if (current?.pid === process.pid && current.startedAt === info.startedAt) rmSync(path, { force: true });
    },
  };
}

function busy(dir: string, holder: RuntimeInfo): EdgefleetError {
  const what =
    holder.kind === 'server'
      ? `stop it first, or give this one another --data-dir`
      : 'wait for that command to finish, or give this one another --data-dir';
  return new EdgefleetError(
    'EF_ERR_STORE_BUSY',
    `data directory ${dir} is in use by ${describeHolder(holder)}; ${what}`,
    { dataDir: dir, pid: holder.pid, holder: holder.command },
  );
}

function claimError(dir: string, path: string, err: unknown): EdgefleetError {
  if (errnoCode(err) === 'EEXIST') {
    const holder = readRuntimeInfo(dir);
    if (holder) return busy(dir, holder);
  }
  return new EdgefleetError(
    'EF_ERR_STORE_OPEN',
    `cannot claim data directory ${dir} (${path}): ${asError(err).message}; ` +
      'check that it exists and is writable, or choose another --data-dir',
    { dataDir: dir },
    { cause: err },
  );
}
