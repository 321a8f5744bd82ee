import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread from a module URL next to the caller, e.g.
 * `spawnModuleWorker(new URL('./ort-worker.js', import.meta.url))`.
 *
 * Why this exists: tests and dev runs execute the TypeScript sources directly, and Node 20
 * does not carry a TypeScript loader into worker threads. When the resolved file is `.ts`
 * (the caller itself runs from source), the worker first loads the same TypeScript loader
 * as its parent (ts-node under tap, so the worker's code counts for coverage; tsx
 * otherwise), then imports the module. Built code (`dist/*.js`) takes the plain path, so
 * production never touches either loader.
 */
export function spawnModuleWorker(url: URL, options: WorkerOptions = {}): Worker {
  const sourceUrl = resolveSourceSibling(url);
  if (!sourceUrl) return new Worker(url, options);
  // tsx's `--import` entry does not register its hooks when imported from an eval worker;
  // its API does. ts-node's import entry registers itself.
  const setup = typeScriptLoaderImports()
    .filter((specifier) => !/tsx/.test(specifier))
    .map((specifier) => `await import(${JSON.stringify(specifier)});`)
    .join(' ');
  const loader = setup || `(await import('tsx/esm/api')).register();`;
  const bootstrap = `(async () => { ${loader} await import(${JSON.stringify(sourceUrl.href)}); })().catch((err) => { setImmediate(() => { throw err; }); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** The parent's `--import` loaders that compile TypeScript (tap's ts-node, or tsx). */
function typeScriptLoaderImports(): string[] {
  return process.execArgv
    .filter((arg) => arg.startsWith('--import='))
    .map((arg) => arg.slice('--import='.length))
    .filter((specifier) => /typescript|ts-node|tsx/.test(specifier));
}

/** When the caller runs from `.ts` sources, maps `./x.js` to `./x.ts`; otherwise null. */
function resolveSourceSibling(url: URL): URL | null {
  if (url.pathname.endsWith('.ts')) return url;
  if (!url.pathname.endsWith('.js') || !url.pathname.includes('/src/')) return null;
  return new URL(url.href.replace(/\.js$/, '.ts'));
}
