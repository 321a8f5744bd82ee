// Loader hook: see source-maps.mjs for why.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const MARK = '//# sourceMappingURL=data:application/json;base64,';

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.startsWith('file:') || !/\.[cm]?ts$/.test(url) || url.includes('/node_modules/') || result.source == null) return result;
  const text = String(result.source);
  const at = text.lastIndexOf(MARK);
  if (at < 0) return result;
  const map = JSON.parse(Buffer.from(text.slice(at + MARK.length).trim(), 'base64').toString('utf8'));
  if (Array.isArray(map.sourcesContent) && map.sourcesContent.every((s) => typeof s === 'string')) return result;
  map.sourcesContent = [await readFile(fileURLToPath(url), 'utf8')];
  return { ...result, source: `${text.slice(0, at)}${MARK}${Buffer.from(JSON.stringify(map)).toString('base64')}` };
}
