import t from 'tap';
import { readFileSync } from 'node:fs';
import { asError, ERROR_CATALOGUE, errnoCode } from '@edgefleet/shared';

// The README's "Error codes" section is the documented list: every catalogue code must be there
// with its HTTP status, and the section must not list codes that no longer exist [STYLE 5].
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.split(/^## Error codes$/m)[1]?.split(/^## /m)[0] ?? '';
const rows = new Map(
  [...section.matchAll(/^\| `(EF_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1] as string, Number(m[2])]),
);

t.test('README lists every error code with its HTTP status', async (t) => {
  t.ok(section.length > 0, 'README has an "## Error codes" section');
  for (const [code, entry] of Object.entries(ERROR_CATALOGUE))
    t.equal(rows.get(code), entry.status, `${code} listed as ${entry.status}`);
});

t.test('README lists no code the catalogue lacks', async (t) => {
  for (const code of rows.keys()) t.ok(Object.hasOwn(ERROR_CATALOGUE, code), `${code} exists`);
});

t.test('asError turns whatever was thrown into an Error; errnoCode reads system error codes only', async (t) => {
  const original = new RangeError('out of range');
  t.equal(asError(original), original, 'an Error comes back as it is');
  t.equal(asError('plain text').message, 'plain text');
  const fromObject = asError({ reason: 'x' });
  t.equal(fromObject.message, '{"reason":"x"}');
  t.same(fromObject.cause, { reason: 'x' }, 'the thrown value is kept as the cause');
  t.equal(asError(undefined).message, 'undefined');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  t.equal(asError(circular).message, '[object Object]', 'an object JSON cannot print still gives a message');
  t.equal(errnoCode(Object.assign(new Error('gone'), { code: 'ENOENT' })), 'ENOENT');
  t.equal(errnoCode(new Error('no code')), undefined);
  t.equal(errnoCode('ENOENT'), undefined, 'a string is not a system error');
  t.equal(errnoCode(null), undefined);
});
