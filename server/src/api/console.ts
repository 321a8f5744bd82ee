/**
 * The web console's static assets under `/ui` on the API port. The console is a separate
 * workspace (`console/`, `@edgefleet/console`) that Vite builds into plain files at install
 * time; the server only serves that folder, so it needs no bundler at run time and nothing is
 * loaded from the internet. The assets are public (they hold no fleet data); every API call
 * the console makes carries the token the user signs in with.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { EdgefleetError } from '@edgefleet/shared';

/** Where the console is mounted. */
export const CONSOLE_PREFIX = '/ui/';

/**
 * Strict by design: scripts, styles, fonts and data only from this origin, no inline script,
 * no framing. The console draws charts on canvas and SVG and sets styles through the CSSOM,
 * which `style-src 'self'` allows.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The built console's folder: `configured` (config `consoleDir`) when given, else the
 * `dist/` folder of the installed `@edgefleet/console` package. Null when there is no
 * `index.html` there (the console was not built).
 */
export function resolveConsoleDir(configured: string | null): string | null {
  let dir = configured;
  if (dir === null) {
    try {
      dir = join(dirname(createRequire(import.meta.url).resolve('@edgefleet/console/package.json')), 'dist');
    } catch {
      return null;
    }
  }
  return existsSync(join(dir, 'index.html')) ? dir : null;
}

function setSecurityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
}

/**
 * Registers `/ui/*` (the built files; `index.html` for `/ui/`), `/ui` and `/` (redirects).
 * Without a built console, `/ui` answers EF_ERR_CONSOLE_NOT_BUILT instead.
 */
export function registerConsole(app: FastifyInstance, dir: string | null): void {
  if (dir === null) {
    const notBuilt = async () => {
      throw new EdgefleetError(
        'EF_ERR_CONSOLE_NOT_BUILT',
        'the web console is not built: run `npm run build` in the edgefleet checkout (npm install does it), or set ' +
          'consoleDir to a built console folder',
      );
    };
    app.get('/ui', notBuilt);
    app.get('/ui/*', notBuilt);
    return;
  }
  app.get('/', async (_request, reply) => reply.redirect(CONSOLE_PREFIX));
  app.get('/ui', async (_request, reply) => reply.redirect(CONSOLE_PREFIX));
  void app.register(fastifyStatic, {
    root: dir,
    prefix: CONSOLE_PREFIX,
    index: ['index.html'],
    cacheControl: false,
    // Vite names every asset by its content hash, so those may be cached for good; the page itself must not be.
    setHeaders(reply, path) {
      setSecurityHeaders(reply);
      reply.header(
        'cache-control',
        path.startsWith(join(dir, 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}
