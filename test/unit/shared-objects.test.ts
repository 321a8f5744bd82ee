import t from 'tap';
import { stripUndefined } from '@edgefleet/shared';

t.test('stripUndefined leaves out undefined properties and keeps every other value', async (t) => {
  const maybe: number | undefined = undefined;
  const out = stripUndefined({ a: 1, b: maybe, c: null, d: 0, e: '', f: false });
  t.same(out, { a: 1, c: null, d: 0, e: '', f: false });
  t.notOk(Object.hasOwn(out, 'b'), 'the key itself is gone, not set to undefined');
  // The result fits an options type with optional keys under exactOptionalPropertyTypes.
  const options: { readonly a: number; readonly b?: number } = stripUndefined({ a: 2, b: maybe });
  t.same(options, { a: 2 });
});
