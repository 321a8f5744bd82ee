import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread from a module URL next to the caller, e.g.
 * `spawnModuleWorker(new URL('./ort-worker.js', import.meta.url))`.
 *
 * Why this exists: tests and dev runs execute the TypeScript sources directly, and Node 20
 * does not carry a TypeScript loader into worker threads. When the resolved file is `.ts`
 * (the caller itself runs from source), the worker first registers tsx, then imports the
 * module. Built code (`dist/*.js`) takes the plain path, so production never touches tsx.
 *
 * Coverage note: tsx minifies whitespace, so code that runs only inside workers is not
 * usefully measured by tap. Loading tap's ts-node in each worker was tried and made the
 * suite several times slower (every compression job re-transpiles the compress stack).
 */
export function spawnModuleWorker(url: URL, options: WorkerOptions = {}): Worker {
  const sourceUrl = resolveSourceSibling(url);
  if (!sourceUrl) return new Worker(url, options);
  const source = JSON.stringify(sourceUrl.href);
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${source}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** When the caller runs from `.ts` sources, maps `./x.js` to `./x.ts`; otherwise null. */
function resolveSourceSibling(url: URL): URL | null {
  if (url.pathname.endsWith('.ts')) return url;
  if (!url.pathname.endsWith('.js') || !url.pathname.includes('/src/')) return null;
  return new URL(url.href.replace(/\.js$/, '.ts'));
}
