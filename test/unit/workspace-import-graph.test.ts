/**
 * Dependencies point one way [DESIGN "The house"]. The agent installs on devices without the
 * server's dependencies, so its import graph must never reach server/, compress/, simulators/
 * or cli/, and its dependency closure must not contain aedes, SQLite or the HTTP framework. The
 * model toolkit (compress/) is usable without the fleet: it reaches shared/ only and no broker,
 * store or HTTP package. The CLI's model commands use the toolkit's public index only. The
 * console runs in a browser: it reaches shared/'s schemas and no Node module, and bundles only
 * its UI and chart libraries and zod.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const AGENT_FORBIDDEN_WORKSPACES = ['server', 'compress', 'simulators', 'cli'];
const FORBIDDEN_PACKAGES = ['aedes', 'better-sqlite3', 'fastify'];
const TOOLKIT_FORBIDDEN_WORKSPACES = ['server', 'agent', 'simulators', 'cli'];
const TOOLKIT_FORBIDDEN_PACKAGES = [...FORBIDDEN_PACKAGES, 'mqtt', 'pino', 'node-cron'];
/** Module specifiers: `import … from 'x'`, `import('x')`, `import 'x'`, `new URL('./x', …)` (one group each). */
const SPECIFIER = new RegExp(
  [
    /(?:^|[;\s])(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/,
    /import\s*\(\s*['"]([^'"]+)['"]\s*\)/,
    /(?:^|[;\s])import\s+['"]([^'"]+)['"]/,
    /new URL\(\s*['"](\.[^'"]+)['"]/,
  ]
    .map((r) => r.source)
    .join('|'),
  'gm',
);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : /\.tsx?$/.test(path) && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Maps an import to a source file of ours, a package name, or null when it cannot be resolved. */
function resolveImport(from: string, spec: string, root: string): { file?: string; pkg?: string } {
  if (spec.startsWith('.')) {
    const base = resolve(dirname(from), spec);
    const candidates = [
      base.replace(/\.js$/, '.ts'),
      base.replace(/\.js$/, '.tsx'),
      `${base}.ts`,
      join(base, 'index.ts'),
      base,
    ];
    return { file: candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? base };
  }
  const ours = /^@edgefleet\/([^/]+)(?:\/(.+))?$/.exec(spec);
  if (ours) {
    const [, ws, sub] = ours as unknown as [string, string, string | undefined];
    return { file: join(root, ws, 'src', sub ? `${sub}.ts` : 'index.ts') };
  }
  if (spec.startsWith('node:')) return { pkg: spec };
  const parts = spec.split('/');
  return { pkg: spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string) };
}

interface GraphViolation {
  readonly file: string;
  readonly import: string;
  readonly why: string;
}

interface Rules {
  readonly workspaces: readonly string[];
  readonly packages: readonly string[];
}
const AGENT_RULES: Rules = { workspaces: AGENT_FORBIDDEN_WORKSPACES, packages: FORBIDDEN_PACKAGES };

/** Walks every import reachable from `entries`; returns what it visited and every violation of `rules`. */
function walkImports(
  entries: readonly string[],
  root: string,
  rules: Rules = AGENT_RULES,
): { visited: Set<string>; violations: GraphViolation[] } {
  const visited = new Set<string>();
  const violations: GraphViolation[] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (visited.has(file)) continue;
    visited.add(file);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(SPECIFIER)) {
      const spec = (match[1] ?? match[2] ?? match[3] ?? match[4]) as string;
      const target = resolveImport(file, spec, root);
      const rel = relative(root, file);
      if (target.pkg && rules.packages.includes(target.pkg))
        violations.push({ file: rel, import: spec, why: `package ${target.pkg}` });
      if (target.file) {
        const ws = relative(root, target.file).split(/[\\/]/)[0] as string;
        if (rules.workspaces.includes(ws)) violations.push({ file: rel, import: spec, why: `reaches ${ws}/` });
        else queue.push(target.file);
      }
    }
  }
  return { visited, violations };
}

/** Every package reachable from `deps` through installed package.json files. */
function dependencyClosure(deps: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...deps];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const manifest = join(ROOT, 'node_modules', name, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    queue.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return seen;
}

t.test('the agent import graph stays inside agent/ and shared/', async (t) => {
  const { visited, violations } = walkImports(tsFiles(join(ROOT, 'agent/src')), ROOT);
  t.ok(
    [...visited].some((f) => f.includes(join('shared', 'src'))),
    'the walk follows @edgefleet/shared imports',
  );
  t.ok(
    [...visited].some((f) => f.endsWith(join('link', 'agent-link.ts'))),
    'the walk covers the link',
  );
  t.same(violations, [], 'no import reaches server/, compress/, simulators/, cli/ or a server-only package');
});

t.test('the model toolkit reaches shared/ only, and no broker, store or HTTP package', async (t) => {
  const rules: Rules = { workspaces: TOOLKIT_FORBIDDEN_WORKSPACES, packages: TOOLKIT_FORBIDDEN_PACKAGES };
  const { visited, violations } = walkImports(tsFiles(join(ROOT, 'compress/src')), ROOT, rules);
  t.ok(
    [...visited].some((f) => f.endsWith(join('compress', 'src', 'runtime', 'ort.ts'))),
    'the walk covers the onnxruntime wrapper',
  );
  t.ok(
    [...visited].some((f) => f.includes(join('shared', 'src'))),
    'the walk follows @edgefleet/shared imports',
  );
  t.same(violations, [], 'compress/ imports nothing of the fleet');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'compress/package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const ours = Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@edgefleet/'));
  t.same(ours, ['@edgefleet/shared'], 'compress/package.json depends on no other workspace');
});

t.test("the CLI's model commands import the toolkit through its public index only", async (t) => {
  for (const command of ['inspect', 'convert', 'compress', 'eval']) {
    const text = readFileSync(join(ROOT, 'cli/src/commands', `${command}.ts`), 'utf8');
    const specs = [...text.matchAll(SPECIFIER)].map((m) => (m[1] ?? m[2] ?? m[3] ?? m[4]) as string);
    t.ok(specs.includes('@edgefleet/compress'), `${command} imports @edgefleet/compress`);
    t.same(
      specs.filter((s) => s.startsWith('@edgefleet/') && s !== '@edgefleet/compress' && s !== '@edgefleet/shared'),
      [],
      `${command} imports no other workspace or toolkit subpath`,
    );
  }
});

/** Packages (and node: modules) that `files` import, with the importing file. */
function packageImports(files: Iterable<string>, root: string): Array<{ file: string; pkg: string }> {
  const found: Array<{ file: string; pkg: string }> = [];
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile()) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const target = resolveImport(file, (match[1] ?? match[2] ?? match[3] ?? match[4]) as string, root);
      if (target.pkg) found.push({ file: relative(root, file), pkg: target.pkg });
    }
  }
  return found;
}

t.test('the console reaches only browser-safe code: shared schemas, preact, uplot, zod', async (t) => {
  const rules: Rules = { workspaces: ['server', 'compress', 'agent', 'simulators', 'cli'], packages: [] };
  const { visited, violations } = walkImports(tsFiles(join(ROOT, 'console/src')), ROOT, rules);
  t.ok(
    [...visited].some((f) => f.endsWith(join('shared', 'src', 'api', 'rollouts.ts'))),
    'the walk follows the shared API schemas',
  );
  t.ok(
    [...visited].some((f) => f.endsWith(join('console', 'src', 'pages', 'plans.tsx'))),
    'the walk covers the pages',
  );
  t.same(violations, [], 'no import reaches the server, toolkit, agent, simulators or CLI');
  const allowed = new Set(['preact', 'uplot', 'zod']);
  t.same(
    packageImports(visited, ROOT).filter((i) => !allowed.has(i.pkg)),
    [],
    'no node: module or other package is bundled into the browser',
  );
});

t.test('the walker catches a forbidden import (it can fail)', async (t) => {
  const dir = t.testdir({
    agent: {
      src: {
        'a.ts': "import { b } from './b.js';\n",
        'b.ts': "export { openStore } from '@edgefleet/server/store/db';\nimport Database from 'better-sqlite3';\n",
      },
    },
    server: { src: { store: { 'db.ts': 'export const openStore = 1;\n' } } },
  });
  const { violations } = walkImports([join(dir, 'agent/src/a.ts')], dir);
  t.same(violations.map((v) => v.why).sort(), ['package better-sqlite3', 'reaches server/']);
});

t.test('agent/package.json pulls no server-only dependency, directly or transitively', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'agent/package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const direct = Object.keys(pkg.dependencies ?? {});
  for (const name of [
    ...FORBIDDEN_PACKAGES,
    '@edgefleet/server',
    '@edgefleet/compress',
    '@edgefleet/simulators',
    '@edgefleet/cli',
  ]) {
    t.notOk(direct.includes(name), `agent does not depend on ${name}`);
  }
  const closure = dependencyClosure(direct.filter((d) => !d.startsWith('@edgefleet/')));
  t.ok(closure.has('mqtt'), 'the closure was computed');
  for (const name of FORBIDDEN_PACKAGES) t.notOk(closure.has(name), `${name} is not in the agent's dependency closure`);
});
