#!/usr/bin/env node
// Bundles the agent process (the `edgefleet-agent` bin) and its inference worker into
// dist/bundle/, one file each, for memory: a device pays resident memory for every module
// it loads. Measured with `npm run bench:agent` (docs/design-notes.md, "Where the agent's
// memory goes"): the ~300 files of the unbundled build cost the agent ~6 MB (Node's module
// loader, one source string per file), and V8 keeps each source string whole, in two bytes
// per character as soon as a file holds one non-ASCII character (the comments of
// this code base and of several dependencies do). So the bundle drops comments, escapes
// non-ASCII, tree-shakes (zod's locales: ~600 kB of source) and drops whitespace, with lines kept
// short (one 600 kB line grew glibc's heap by ~7 MB while V8 parsed it).
// onnxruntime-node stays a real package (native binaries); everything else is inside.
// Runs after `tsc -b` (it bundles dist/): `npm run build` and the packages' `prepack`.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agentDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(agentDir, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
  // The worker is spawned from `new URL('./inference-worker.js', import.meta.url)`: both
  // land side by side in dist/bundle/ under their own names.
  entryPoints: {
    'edgefleet-agent': join(agentDir, 'dist', 'cli.js'),
    'inference-worker': join(agentDir, 'dist', 'runtime', 'inference-worker.js'),
  },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['onnxruntime-node'],
  // Identifiers are not renamed: class and function names stay readable in stack traces and in
  // pino's error `type`. (esbuild's keepNames would do that too, but its per-function helper
  // calls cost 4.6 MB of resident memory, measured.)
  minifyWhitespace: true,
  minifySyntax: true,
  lineLimit: 400,
  legalComments: 'none',
  charset: 'ascii',
  logLevel: 'warning',
  // CommonJS dependencies (mqtt, pino) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __efRequire } from 'node:module'; const require = __efRequire(import.meta.url);",
  },
});
