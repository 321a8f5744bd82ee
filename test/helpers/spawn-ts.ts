/** Runs a snippet of ESM against the workspace sources in a child process (no build needed). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The environment for a child that loads the sources through tsx. tap's coverage hook rides along in
 * NODE_OPTIONS, but tsx folds whitespace, so the child's V8 coverage of a file cannot be merged with
 * the in-process tests' coverage of the same file: one such child halved the reported coverage of
 * every module it loaded. Its coverage is switched off; what it runs is covered in process.
 */
export function tsxChildEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...extra };
}

export interface Child {
  readonly proc: ChildProcess;
  output(): string;
  /** Resolves when the combined output matches. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function spawnSnippet(code: string, env: Record<string, string> = {}): Child {
  const proc = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=edgefleet-source', '--input-type=module', '-e', code],
    {
      cwd: REPO_ROOT,
      env: tsxChildEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const l of [...listeners]) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    waitForOutput: (re, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(out)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in:\n${out}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** `main([...])` of the edgefleet CLI, from sources. */
export function cliSnippet(args: readonly string[]): string {
  return (
    `import { main } from '@edgefleet/cli'; main(['node', 'edgefleet', ...${JSON.stringify(args)}]).then((c) => ` +
    `{ process.exitCode = c; });`
  );
}
