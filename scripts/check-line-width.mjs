#!/usr/bin/env node
/**
 * `node scripts/check-line-width.mjs [--max N]`: fails (exit 1) when a source, test, script or
 * hand-written JSON file of the repository has a line longer than N characters (default 120, the
 * width biome.json formats to), and lists each one as file:line (length). `npm test` runs it first.
 *
 * Biome's formatter wraps code but never strings, template literals or comments, and Biome has no
 * line-length lint rule, hence this script. Plain Node with no dependencies, so it runs before the
 * build. Files are those git knows (committed or new, minus .gitignore); generated JSON is skipped.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const DEFAULT_MAX_WIDTH = 120;

const CHECKED_EXTENSIONS = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs|json|sh)$/;
/** Written by tools, not by people: npm's lock file and the zoo's model cards (`npm run zoo`). */
const GENERATED = [/(^|\/)package-lock\.json$/, /^models\/zoo\//, /^bench\/results\//];

/** Paths (relative to `root`) of the files to check, from git: tracked plus untracked-but-not-ignored. */
export function filesToCheck(root) {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const paths = out.split('\0').filter((p) => p !== '');
  return [...new Set(paths)].filter((p) => CHECKED_EXTENSIONS.test(p) && !GENERATED.some((g) => g.test(p))).sort();
}

/**
 * Lines longer than `max` characters (UTF-16 code units after a trailing CR is dropped, so a
 * character outside the BMP counts twice: stricter than Biome, never looser), as {file, line, length}.
 */
export function findLongLines(root, files, max = DEFAULT_MAX_WIDTH) {
  const found = [];
  for (const file of files) {
    let text;
    try {
      text = readFileSync(join(root, file), 'utf8');
    } catch (err) {
      // A file git lists but the work tree lacks (deleted, not yet committed) has no lines to check.
      if (err instanceof Error && 'code' in err && err.code === 'ENOENT') continue;
      throw err;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const length = lines[i].replace(/\r$/, '').length;
      if (length > max) found.push({ file, line: i + 1, length });
    }
  }
  return found;
}

const HELP = `usage: node scripts/check-line-width.mjs [--max N]

Lists every line over N characters (default ${DEFAULT_MAX_WIDTH}) in the repository's source, test,
script and hand-written JSON files as file:line (length), and exits 1 when there is one.
Shorten such a line by restructuring: extract a variable or a helper that builds a message,
reflow a comment; never break a string inside a multi-line template (a script in a template).`;

function main() {
  const { values } = parseArgs({
    options: {
      max: { type: 'string', default: String(DEFAULT_MAX_WIDTH) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const max = Number(values.max);
  if (!Number.isInteger(max) || max < 1) {
    process.stderr.write(`--max must be a positive integer, got ${JSON.stringify(values.max)}\n`);
    return 2;
  }
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const files = filesToCheck(root);
  const long = findLongLines(root, files, max);
  for (const l of long) process.stdout.write(`${l.file}:${l.line} (${l.length} > ${max})\n`);
  if (long.length > 0) {
    process.stdout.write(
      `${long.length} line(s) over ${max} characters in ${files.length} files; shorten them ` +
        '(see --help for how)\n',
    );
    return 1;
  }
  process.stdout.write(`line width: ${files.length} files, every line ≤ ${max} characters\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main();
}
