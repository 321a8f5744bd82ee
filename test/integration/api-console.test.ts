/**
 * The web console on the API port: `/ui/` serves the built files (public, with a strict
 * Content-Security-Policy; hashed assets cached for good, the page never), `/` and `/ui`
 * redirect there, nothing outside the folder is reachable, a missing build answers
 * EF_ERR_CONSOLE_NOT_BUILT without touching the API; and `GET /v1/whoami`, which the console
 * uses to hide what a read token may not do.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConsoleDir } from '@edgefleet/server/api/console';
import { startApi } from '../helpers/api.js';

/** A stand-in console build: an index page and one content-hashed asset. */
function fakeConsole(root: string): string {
  const dir = join(root, 'console-dist');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>console</title><script src="/ui/assets/app-1a2b3c.js"></script>',
  );
  writeFileSync(join(dir, 'assets', 'app-1a2b3c.js'), 'console.log("console")');
  // Beside the folder, not in it: must never be served.
  writeFileSync(join(root, 'secret.txt'), 'not for browsers');
  return dir;
}

t.test('the console is served under /ui with safe headers', async (t) => {
  // Not t.testdir(): startApi's own testdir call would empty it.
  const root = mkdtempSync(join(tmpdir(), 'ef-console-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = fakeConsole(root);
  const { call, expectError, server } = await startApi(t, { consoleDir: dir });
  const app = server.api()!.app;

  const page = await app.inject({ method: 'GET', url: '/ui/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.body, /<title>console<\/title>/);
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'self'/, 'CSP: same origin only');
  t.match(csp, /script-src 'self'/, 'CSP: no inline or foreign script');
  t.match(csp, /frame-ancestors 'none'/, 'CSP: not framed');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['cache-control'], 'no-cache', 'the page is revalidated, so a new build shows at once');

  const asset = await app.inject({ method: 'GET', url: '/ui/assets/app-1a2b3c.js' });
  t.equal(asset.statusCode, 200);
  t.match(asset.headers['content-type'], /javascript/);
  t.match(asset.headers['cache-control'], /immutable/, 'content-hashed assets are cached for good');

  for (const url of ['/ui', '/']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 302, `${url} redirects`);
    t.equal(res.headers.location, '/ui/', `${url} → /ui/`);
  }
  for (const url of ['/ui/%2e%2e/secret.txt', '/ui/../secret.txt', '/ui/assets/%2e%2e/%2e%2e/secret.txt']) {
    const res = await app.inject({ method: 'GET', url });
    t.not(res.statusCode, 200, `${url} is refused`);
    t.notMatch(res.body, /not for browsers/, `${url} does not leak a file outside the console folder`);
  }
  expectError(t, await call('GET', '/ui/assets/missing.js', null), 'EF_ERR_API_NOT_FOUND');
  t.equal((await call('GET', '/v1/devices', null)).status, 401, 'the API behind it still needs a token');
});

t.test('without a built console /ui says how to build it and the API is unaffected', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'ef-console-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const { call, expectError, reader } = await startApi(t, { consoleDir: empty });
  const res = await call('GET', '/ui/', null);
  expectError(t, res, 'EF_ERR_CONSOLE_NOT_BUILT');
  t.match(res.body['message'], /npm run build/, 'the message says what to run');
  expectError(t, await call('GET', '/ui/assets/x.js', null), 'EF_ERR_CONSOLE_NOT_BUILT');
  t.equal((await call('GET', '/v1/devices', reader)).status, 200);
});

const built = resolveConsoleDir(null);
t.test(
  'the default console folder is the @edgefleet/console package build',
  { skip: built === null ? 'console not built: `npm run build` (npm install runs it) builds console/dist' : false },
  async (t) => {
    const dir = built as string;
    t.match(dir, /console[/\\]dist$/);
    t.ok(existsSync(join(dir, 'index.html')));
    t.equal(resolveConsoleDir(join(dir, 'no-such-folder')), null, 'a folder without index.html counts as not built');
  },
);

t.test('GET /v1/whoami names the token and its scope', async (t) => {
  const { call, expectError, admin, reader } = await startApi(t);
  t.match(await call('GET', '/v1/whoami', admin), {
    status: 200,
    body: { auth: 'token', scope: 'admin', name: 'admin', tokenId: String },
  });
  t.match(await call('GET', '/v1/whoami', reader), {
    status: 200,
    body: { auth: 'token', scope: 'read', name: 'reader' },
  });
  expectError(t, await call('GET', '/v1/whoami', null), 'EF_ERR_AUTH_MISSING');
  expectError(t, await call('GET', '/v1/whoami', 'efa_nope_nope'), 'EF_ERR_AUTH_INVALID');
});

t.test('GET /v1/whoami with auth off is open and admin', async (t) => {
  const { call } = await startApi(t, { 'auth.enabled': false });
  t.match(await call('GET', '/v1/whoami', null), {
    status: 200,
    body: { auth: 'open', scope: 'admin', tokenId: null, name: null },
  });
});
