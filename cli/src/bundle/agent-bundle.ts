/**
 * `edgefleet agent-bundle`: one tarball a device installs with no network. It is made the way
 * an operator would install the published packages: `npm pack` of @edgefleet/shared and
 * @edgefleet/agent (their `prepack` builds them), an `npm install --omit=dev` of those two
 * tarballs into a staging directory (so the agent's dependency on @edgefleet/shared is resolved
 * by version from the packed tarball, as from a registry), then onnxruntime-node's binaries for
 * every other platform are dropped (a plain install carries all of them), and a launcher, the
 * systemd unit and an install script are added.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AGENT_NODE_FLAGS } from '@edgefleet/agent';

export const BUNDLE_PLATFORMS = ['linux-x64', 'linux-arm64'] as const;
export type BundlePlatform = (typeof BUNDLE_PLATFORMS)[number];

export interface AgentBundleOptions {
  readonly platform: BundlePlatform;
  /** Where the .tgz goes. */
  readonly outFile: string;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
  /** Extra `npm install` arguments (e.g. `--offline`). Default `--prefer-offline`. */
  readonly npmInstallArgs?: readonly string[];
}

export interface AgentBundle {
  readonly file: string;
  readonly bytes: number;
  readonly platform: BundlePlatform;
  readonly agentVersion: string;
  readonly onnxruntimeVersion: string;
  /** Top directory inside the tarball, e.g. `edgefleet-agent-0.1.0-linux-arm64`. */
  readonly root: string;
}

/** The asset files (install script, launcher) next to this module in src/ and dist/ alike. */
const ASSETS = new URL('../../assets/agent-bundle/', import.meta.url);

/** Runs a command; rejects with its output when it fails. */
function run(command: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, [...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${out.slice(-2000)}`)),
    );
  });
}

/** Directory of an installed workspace package (from its exported package.json). */
function packageDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

/** `npm pack` of one package into `dest`; returns the tarball's path. */
async function pack(dir: string, dest: string): Promise<string> {
  const out = await run('npm', ['pack', '--json', '--pack-destination', dest], dir);
  const parsed = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string }>;
  const file = parsed[0]?.filename;
  if (!file) throw new Error(`npm pack in ${dir} reported no tarball`);
  return join(dest, file);
}

/** True for onnxruntime-node's binaries (or their folders) of a platform other than `platform`. */
export function otherPlatformBinary(path: string, platform: BundlePlatform): boolean {
  const match = /onnxruntime-node\/bin\/napi-v6\/([^/]+)(?:\/([^/]+))?/.exec(path.replaceAll('\\', '/'));
  if (!match) return false;
  const [os, cpu] = platform.split('-');
  return match[1] !== os || (match[2] !== undefined && match[2] !== cpu);
}

function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

/** The packed packages installed with their production dependencies, every platform's onnxruntime included. */
export interface PreparedAgentInstall {
  /** Directory holding `package.json` and `node_modules/`. */
  readonly lib: string;
  readonly agentDir: string;
  readonly agentVersion: string;
  readonly onnxruntimeVersion: string;
}

/** Packs shared and agent and installs the tarballs into `work/lib` (the slow part, shared by every platform). */
export async function prepareAgentInstall(
  work: string,
  options: Pick<AgentBundleOptions, 'progress' | 'npmInstallArgs'> = {},
): Promise<PreparedAgentInstall> {
  const say = options.progress ?? (() => undefined);
  const agentDir = packageDir('@edgefleet/agent');
  const agentVersion = (JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8')) as { version: string })
    .version;
  say('packing @edgefleet/shared and @edgefleet/agent (npm pack; prepack builds them)');
  const sharedTgz = await pack(packageDir('@edgefleet/shared'), work);
  const agentTgz = await pack(agentDir, work);
  const lib = join(work, 'lib');
  mkdirSync(lib, { recursive: true });
  writeFileSync(
    join(lib, 'package.json'),
    `${JSON.stringify({ name: 'edgefleet-agent-bundle', private: true }, null, 2)}\n`,
  );
  say('installing them with their production dependencies (npm install --omit=dev)');
  // --ignore-scripts: onnxruntime-node's postinstall would fetch GPU binaries; its CPU ones are in the package.
  await run(
    'npm',
    [
      'install',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      ...(options.npmInstallArgs ?? ['--prefer-offline']),
      sharedTgz,
      agentTgz,
    ],
    lib,
  );
  const onnxruntimeVersion = (
    JSON.parse(readFileSync(join(lib, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return { lib, agentDir, agentVersion, onnxruntimeVersion };
}

/** Writes one platform's bundle from a prepared install. */
export async function writeAgentBundle(
  prepared: PreparedAgentInstall,
  options: AgentBundleOptions,
): Promise<AgentBundle> {
  const say = options.progress ?? (() => undefined);
  const root = `edgefleet-agent-${prepared.agentVersion}-${options.platform}`;
  const work = mkdtempSync(join(tmpdir(), 'ef-agent-bundle-'));
  try {
    const stage = join(work, root);
    cpSync(prepared.lib, join(stage, 'lib'), {
      recursive: true,
      filter: (src) => !otherPlatformBinary(src, options.platform),
    });
    const ort = (lib: string) => join(lib, 'node_modules', 'onnxruntime-node');
    const kept = join(ort(join(stage, 'lib')), 'bin', 'napi-v6', ...options.platform.split('-'));
    if (!existsSync(kept) || readdirSync(kept).length === 0)
      throw new Error(`onnxruntime-node ${prepared.onnxruntimeVersion} ships no binaries for ${options.platform}`);
    const leftOut = sizeOf(ort(prepared.lib)) - sizeOf(ort(join(stage, 'lib')));
    say(
      `kept onnxruntime's ${options.platform} binaries only (${(leftOut / 1e6).toFixed(0)} MB of other ` +
        `platforms left out)`,
    );
    mkdirSync(join(stage, 'bin'));
    const launcher = readFileSync(new URL('launcher.sh', ASSETS), 'utf8').replace(
      '@NODE_FLAGS@',
      AGENT_NODE_FLAGS.join(' '),
    );
    writeFileSync(join(stage, 'bin', 'edgefleet-agent'), launcher);
    chmodSync(join(stage, 'bin', 'edgefleet-agent'), 0o755);
    cpSync(new URL('install.sh', ASSETS), join(stage, 'install.sh'));
    chmodSync(join(stage, 'install.sh'), 0o755);
    cpSync(join(prepared.agentDir, 'systemd'), join(stage, 'systemd'), { recursive: true });
    const manifest = {
      platform: options.platform,
      agentVersion: prepared.agentVersion,
      onnxruntimeVersion: prepared.onnxruntimeVersion,
      node: '>=20',
      nodeFlags: AGENT_NODE_FLAGS,
    };
    writeFileSync(join(stage, 'BUNDLE.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const outFile = resolve(options.outFile);
    say(`writing ${outFile}`);
    await run('tar', ['-czf', outFile, '--owner=0', '--group=0', '--numeric-owner', '-C', work, root], work);
    return {
      file: outFile,
      bytes: statSync(outFile).size,
      platform: options.platform,
      agentVersion: prepared.agentVersion,
      onnxruntimeVersion: prepared.onnxruntimeVersion,
      root,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Builds one bundle (see the module comment); every intermediate file lives in a temp dir removed afterwards. */
export async function buildAgentBundle(options: AgentBundleOptions): Promise<AgentBundle> {
  const work = mkdtempSync(join(tmpdir(), 'ef-agent-install-'));
  try {
    return await writeAgentBundle(await prepareAgentInstall(work, options), options);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
